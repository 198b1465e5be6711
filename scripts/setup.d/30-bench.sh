# Benchmarks (bench/, `pnpm bench`): the load generators, pinned. Sourced by scripts/setup.sh at
# its end (bash, `set -euo pipefail`, cwd = repo root, install_go_tool defined).

# ghz: the gRPC load generator for unary and streaming calls, built into .tools/bin.
install_go_tool ghz github.com/bojand/ghz/cmd/ghz@v0.93.0

# h2load (Debian's nghttp2-client): raw HTTP/2 load, for where ghz's own CPU would cap the server;
# taskset (util-linux): pins the server and the load generator to different cores.
bench_debs=(nghttp2-client util-linux)
bench_missing=()
for p in "${bench_debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || bench_missing+=("$p"); done
if [ ${#bench_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${bench_missing[*]} (run: sudo apt-get install ${bench_missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${bench_missing[@]}"
fi
command -v taskset >/dev/null || { echo "taskset (util-linux) is missing" >&2; exit 1; }
command -v h2load >/dev/null || { echo "h2load (nghttp2-client) is missing" >&2; exit 1; }
