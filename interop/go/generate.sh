#!/usr/bin/env bash
# Regenerates gen/ (package userpb) from the repository's buf module (proto/user/user.proto only)
# with buf.gen.yaml, using the pinned plugins `bash scripts/setup.sh` builds into .tools/bin.
#
# user.proto imports buf/validate/validate.proto for its request rules, which buf cannot fetch here,
# so packages/proto/scripts/proto-image.mjs first compiles it into an image against the descriptors
# the pinned npm packages embed. `--exclude-type buf.validate` then leaves the rules (and the
# import) out of what the plugins see: the rules are enforced by polyrpc's servers, the docs'
# stubs need none of them, and without them gen/ does not depend on a protovalidate Go module.
# The descriptor embedded in user.pb.go is the same as when user.proto had no rules.
#
#   bash generate.sh            regenerate gen/ in place
#   bash generate.sh -o DIR     write DIR/gen instead (generated_test.go compares that with gen/)
#
# BUF may name another buf binary (default: the one pinned in packages/proto).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
buf=${BUF:-$root/packages/proto/node_modules/.bin/buf}
export PATH="$root/.tools/bin:$PATH"

want_go=v1.36.12
want_grpc=1.6.2
fail() {
  echo "generate.sh: $*; run \`bash scripts/setup.sh\` from the repository root" >&2
  exit 1
}
[ -x "$buf" ] || fail "buf not found at $buf"
[ -x "$root/.tools/bin/protoc-gen-go" ] || fail "protoc-gen-go not found in .tools/bin"
[ -x "$root/.tools/bin/protoc-gen-go-grpc" ] || fail "protoc-gen-go-grpc not found in .tools/bin"
got=$("$root/.tools/bin/protoc-gen-go" --version)
[ "$got" = "protoc-gen-go $want_go" ] || fail "protoc-gen-go is \"$got\", want $want_go"
got=$("$root/.tools/bin/protoc-gen-go-grpc" --version)
[ "$got" = "protoc-gen-go-grpc $want_grpc" ] || fail "protoc-gen-go-grpc is \"$got\", want $want_grpc"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
node "$root/packages/proto/scripts/proto-image.mjs" -o "$scratch/user.binpb" user/user.proto

# buf.gen.yaml's output paths are relative to the working directory.
cd "$here"
"$buf" generate "$scratch/user.binpb" --template buf.gen.yaml --path user/user.proto \
  --exclude-type buf.validate "$@"
