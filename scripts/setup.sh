#!/usr/bin/env bash
# Installs the project's toolchain and dependencies; safe to run again (each step is skipped when
# already done). Needs only the package registries: npm, PyPI, the Go module proxy, Debian.
set -euo pipefail
cd "$(dirname "$0")/.."


# install_debs PACKAGE...: installs the Debian packages that are missing (as root; otherwise says
# which to install and stops).
install_debs() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
# make, python3 (pip brings the pinned Node and the Python tools), openssl for test certificates,
# Chromium for the browser tests, PostgreSQL (server and psql) for the scale-out tests,
# python3-venv for the project-local Python environments; g++ for Go's cgo where a tool needs it.
install_debs git make g++ python3 python3-venv openssl chromium postgresql

# The pinned Node.js (.node-version) in .tools/node, first on PATH for every later step; the
# Makefile puts it first for every command it runs.
PATH="$(bash scripts/install-node.sh):$PATH"
export PATH
pnpm_version=$(node -p 'require("./package.json").packageManager.split("@")[1]')

# pnpm through corepack, at the version pinned in package.json. Corepack's built-in signing keys
# lag behind the registry's, so its integrity check is turned off; the version stays pinned.
if [ "$(command -v pnpm)" != "$PWD/.tools/node/bin/pnpm" ] || [ "$(pnpm --version 2>/dev/null || true)" != "$pnpm_version" ]; then
  export COREPACK_INTEGRITY_KEYS=0
  corepack enable
  corepack prepare "pnpm@${pnpm_version}" --activate
fi

# No install script runs (package.json's pnpm.ignoredBuiltDependencies): better-sqlite3 13 ships
# its Node-API binaries in its package, so nothing compiles or downloads at install.
pnpm install --frozen-lockfile

# Go tools the tests run for real, pinned, built into .tools/bin (Go's module and build caches
# make a second run instant).
go_tools=(
  "grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3"
  "protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12"
  "protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"
  "interop-client google.golang.org/grpc/interop/client@v1.85.0"
)
mkdir -p .tools/bin
# install_go_tool NAME MODULE@VERSION: builds MODULE into .tools/bin/NAME unless that version is there.
install_go_tool() {
  local name=$1 module=$2
  local stamp=".tools/bin/.${name}.version"
  if [ ! -x ".tools/bin/${name}" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$module" ]; then
    echo "building ${module}"
    GOBIN="$PWD/.tools/bin" go install "$module"
    # `go install` names a binary after its package directory; give each its name from the list.
    local built=".tools/bin/$(basename "${module%@*}")"
    [ "$built" = ".tools/bin/${name}" ] || mv "$built" ".tools/bin/${name}"
    echo "$module" >"$stamp"
  fi
}
for entry in "${go_tools[@]}"; do
  read -r name module <<<"$entry"
  install_go_tool "$name" "$module"
done

# install_python_env DIR REQUIREMENTS: a project-local virtual environment with pinned wheels,
# rebuilt only when the requirements change.
install_python_env() {
  local venv=$1 requirements=$2
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/.requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/.requirements.txt"
  fi
}

# The Python interop stubs run in a project-local virtual environment with pinned wheels.
install_python_env interop/python/.venv interop/python/requirements.txt

# The Go interop modules' dependencies, downloaded up front so that a proxy failure shows here.
for mod in interop/go interop/grpc-testing/descriptors; do
  if [ -f "$mod/go.mod" ]; then (cd "$mod" && go mod download); fi
done

# Each part of the project that needs more tools installs them in its own step here (deploy
# checks, Envoy, benchmarks), using install_debs, install_go_tool and install_python_env.
for step in scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  # shellcheck source=/dev/null
  source "$step"
done
