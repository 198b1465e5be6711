# connectrpc's conformance runner (interop/conformance): `connectconformance --mode server` runs
# the Connect, gRPC and gRPC-Web conformance cases against the server kit on both runtimes. The
# binary embeds its test suites and reference clients. Sourced by scripts/setup.sh; the version is
# pinned (and matches the protos interop/conformance generates from).
install_go_tool connectconformance connectrpc.com/conformance/cmd/connectconformance@v1.0.7
