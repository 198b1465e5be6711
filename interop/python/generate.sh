#!/usr/bin/env bash
# Generates the Python stubs for the docs' UserService from the buf module's user/user.proto with
# grpcio-tools (the protoc it bundles, so no separate protoc is needed), using the project venv.
#
# user.proto imports buf/validate/validate.proto for its request rules, which only the buf
# registry serves as a .proto file, so packages/proto/scripts/proto-image.mjs first compiles it
# into an image against the descriptors the pinned npm packages embed. The stubs leave the rules
# out: polyrpc's servers enforce them, the docs' stubs need none of them, and with them
# user_pb2.py would import buf.validate.validate_pb2 (a protovalidate package nobody here needs).
# protoc cannot drop options, buf can: buf runs the python and pyi generators (buf.gen.yaml) with
# `--exclude-type buf.validate`. grpc_python runs on the image itself; its output embeds no
# descriptor, only the service's method paths and message classes.
#
#   bash interop/python/generate.sh          # rewrites interop/python/gen/ (committed)
#   bash interop/python/generate.sh DIR      # writes the same files into DIR (the staleness test)
#
# The include root is proto/user, not proto: protoc names a module after the file's path below the
# include root, so `user.proto` becomes the top-level modules `user_pb2` / `user_pb2_grpc` (with
# `import user_pb2` inside user_pb2_grpc), which is exactly what the docs' `import user_pb2` expects
# once gen/ is on sys.path. With `-I proto user/user.proto` the modules would be `user.user_pb2`
# instead. Only the descriptor's file name differs (`user.proto`); package, services, messages and
# method paths (/user.UserService/...) are the same, so the wire is unchanged. The image is built
# with the same include root (--root proto/user).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$(mkdir -p "${1:-$here/gen}" && cd "${1:-$here/gen}" && pwd)"
python="$here/.venv/bin/python"
buf="$root/packages/proto/node_modules/.bin/buf"
for tool in "$python" "$buf"; do
  if [ ! -x "$tool" ]; then
    echo "missing $tool: run scripts/setup.sh first" >&2
    exit 1
  fi
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
node "$root/packages/proto/scripts/proto-image.mjs" --root "$root/proto/user" -o "$scratch/user.binpb" user.proto

# Start clean (like buf's `clean: true`), so a removed file cannot linger; touch only generated files.
rm -f "$out"/*_pb2.py "$out"/*_pb2.pyi "$out"/*_pb2_grpc.py
# buf.gen.yaml's protoc_path is relative to the working directory.
cd "$here"
"$buf" generate "$scratch/user.binpb" --template buf.gen.yaml --path user.proto \
  --exclude-type buf.validate -o "$out"
"$python" -m grpc_tools.protoc --descriptor_set_in="$scratch/user.binpb" --grpc_python_out="$out" user.proto
