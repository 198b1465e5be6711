# h2spec: the HTTP/2 conformance tester (RFC 7540/7541 cases, frame by frame). The e2e tests
# (tests/e2e/test/h2spec.test.ts) run it against both apps' ports and infra/envoy's tests against
# the Envoy sidecar's listeners. Sourced by scripts/setup.sh; the version is pinned.
install_go_tool h2spec github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible
