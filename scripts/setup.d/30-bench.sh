# Benchmarks (bench/, `pnpm bench`): the load generators, pinned. Sourced by scripts/setup.sh at
# its end (bash, `set -euo pipefail`, cwd = repo root, install_debs and install_go_tool defined).

# ghz: the gRPC load generator for unary and streaming calls, built into .tools/bin (the e2e
# tests also use it: SIGTERM under load).
install_go_tool ghz github.com/bojand/ghz/cmd/ghz@v0.93.0

# h2load (Debian's nghttp2-client): raw HTTP/2 load, for where ghz's own CPU would cap the server;
# taskset (util-linux): pins the server and the load generator to different cores.
install_debs nghttp2-client util-linux
command -v taskset >/dev/null || { echo "taskset (util-linux) is missing" >&2; exit 1; }
command -v h2load >/dev/null || { echo "h2load (nghttp2-client) is missing" >&2; exit 1; }
