#!/usr/bin/env bash
# Generates the Python stubs for the docs' UserService from the buf module's user/user.proto with
# grpcio-tools (the protoc it bundles, so no separate protoc is needed), using the project venv.
#
#   bash interop/python/generate.sh          # rewrites interop/python/gen/ (committed)
#   bash interop/python/generate.sh DIR      # writes the same files into DIR (the staleness test)
#
# The include root is proto/user, not proto: protoc names a module after the file's path below the
# include root, so `user.proto` becomes the top-level modules `user_pb2` / `user_pb2_grpc` (with
# `import user_pb2` inside user_pb2_grpc), which is exactly what the docs' `import user_pb2` expects
# once gen/ is on sys.path. With `-I proto user/user.proto` the modules would be `user.user_pb2`
# instead. Only the descriptor's file name differs (`user.proto`); package, services, messages and
# method paths (/user.UserService/...) are the same, so the wire is unchanged.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/gen}"
python="$here/.venv/bin/python"
if [ ! -x "$python" ]; then
  echo "missing $python: run scripts/setup.sh first" >&2
  exit 1
fi

mkdir -p "$out"
# Start clean (like buf's `clean: true`), so a removed file cannot linger; touch only generated files.
rm -f "$out"/*_pb2.py "$out"/*_pb2.pyi "$out"/*_pb2_grpc.py
"$python" -m grpc_tools.protoc \
  -I "$here/../../proto/user" \
  --python_out="$out" \
  --pyi_out="$out" \
  --grpc_python_out="$out" \
  user.proto
