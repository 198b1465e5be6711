#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, built from source
# (Go module proxy) and Debian packages; no container registry needed.
#
#   cluster.sh install              apt-install containerd, runc, CNI plugins, ... if missing
#   cluster.sh build                build binaries + images into the cache (seconds when cached)
#   cluster.sh up                   start everything, wait for node Ready + DNS, print KUBECONFIG
#   cluster.sh down                 stop everything and put the machine back as it was
#   cluster.sh status               say whether it is up
#   cluster.sh import ARCHIVE...    import docker-archive/OCI image archives (with names)
#   cluster.sh images               list the images the node has
#   cluster.sh kubectl ARGS...      kubectl with the admin kubeconfig
#   cluster.sh env                  print `export KUBECONFIG=... PATH=...`
#   cluster.sh path NAME            print a cache path: bin | echo-image | pause-image | coredns-image
#
# Environment: POLYRPC_CACHE_DIR (default ~/.cache/polyrpc; binaries go in
# $POLYRPC_CACHE_DIR/cluster/<component>-<version>-<hash>), POLYRPC_CLUSTER_STATE
# (default /var/lib/polyrpc-cluster: pki, logs, data; removed by down),
# POLYRPC_NODE_IP (default: the address of the default route's interface),
# POLYRPC_CLUSTER_KEEP_LOGS=DIR (down copies the component logs there first).
# See README.md for what runs and why each setting is what it is.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$HERE/versions.env"

CACHE=${POLYRPC_CACHE_DIR:-$HOME/.cache/polyrpc}/cluster
STATE=${POLYRPC_CLUSTER_STATE:-/var/lib/polyrpc-cluster}
RUN=$STATE/run
PKI=$STATE/pki
LOGS=$STATE/logs
PIDS=$STATE/pids
PRE=$STATE/pre # what the machine looked like before up (restored by down)
KUBECONFIG_PATH=$STATE/admin.kubeconfig
CONTAINERD_SOCK=$RUN/containerd.sock

CLUSTER_CIDR=10.244.0.0/16
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/12
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
BRIDGE=polyrpc0
CNI_BIN_DIR=/usr/lib/cni
NODE_NAME=$(hostname | tr '[:upper:]' '[:lower:]')
IMAGE_PREFIX=localhost/polyrpc-cluster
PAUSE_IMAGE=$IMAGE_PREFIX/pause:$IMAGE_RECIPE
COREDNS_IMAGE=$IMAGE_PREFIX/coredns:$COREDNS_VERSION
ECHO_IMAGE=$IMAGE_PREFIX/echo:$IMAGE_RECIPE
# ports that must be free on the host
PORTS=(2379 2380 2381 6443 10248 10249 10250 10256 10257 10259)
# directories outside $STATE that containerd/kubelet/CNI create; down removes
# the ones that did not exist before up
SYSTEM_DIRS=(/run/containerd /run/netns /var/log/containers /var/log/pods /var/lib/cni /var/lib/kubelet /etc/cni /opt/cni /opt/containerd)

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
need_root() { [[ $(id -u) == 0 ]] || die "must run as root"; }

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
GO=${GO:-go}

# ---------------------------------------------------------------- cache keys
go_version() { "$GO" env GOVERSION; }
hash_of() { cat "$@" | sha256sum | cut -c1-10; }
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
k8s_ldflags() {
  local f="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=$(echo "${KUBERNETES_VERSION#v}" | cut -d. -f1)"
    f+=" -X $p.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2) -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$f"
}
k8s_dir() { echo "$CACHE/kubernetes-$KUBERNETES_VERSION-$(hash_of "$HERE/kubernetes/go.mod" "$HERE/kubernetes/go.sum" <(k8s_ldflags; go_version))"; }
etcd_dir() { echo "$CACHE/etcd-$ETCD_VERSION-$(hash_of "$HERE"/etcd/{go.mod,go.sum,main.go} <(go_version))"; }
kuberouter_dir() { echo "$CACHE/kube-router-$KUBE_ROUTER_VERSION-$(hash_of "$HERE"/kube-router/{go.mod,go.sum} <(go_version))"; }
provisioner_dir() { echo "$CACHE/provisioner-$KUBERNETES_STAGING_VERSION-$(hash_of "$HERE"/provisioner/{go.mod,go.sum,main.go} <(go_version))"; }
coredns_dir() { echo "$CACHE/coredns-$COREDNS_VERSION-$(hash_of "$HERE"/coredns/{go.mod,go.sum,main.go} <(go_version))"; }
images_dir() { echo "$CACHE/images-$IMAGE_RECIPE-$(hash_of "$HERE"/pause/{go.mod,main.go} "$HERE"/echo/{go.mod,main.go} <(coredns_dir; go_version; declare -f mkimage))"; }

# Resolved once per run (go env costs ~20 ms).
resolve_dirs() {
  K8S_DIR=$(k8s_dir); K8S_BIN=$K8S_DIR/bin
  ETCD_DIR=$(etcd_dir); CDNS_DIR=$(coredns_dir); IMG_DIR=$(images_dir); KR_DIR=$(kuberouter_dir); PROV_DIR=$(provisioner_dir)
}

# ---------------------------------------------------------------- install
APT_PACKAGES=(containerd runc containernetworking-plugins iptables ipset conntrack socat openssl curl iproute2 kmod bind9-dnsutils)
cmd_install() {
  need_root
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then log "install: all packages present"; return; fi
  log "install: apt-get install ${missing[*]}"
  # Keep apt from starting the distribution's containerd service where an init
  # system would: this cluster runs its own containerd with its own config.
  local made_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  local rc=0
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
    DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" || rc=$?
  fi
  [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || die "apt-get install failed"
}

# ---------------------------------------------------------------- build
check_pins() {
  grep -q "k8s.io/kubernetes $KUBERNETES_VERSION\$" "$HERE/kubernetes/go.mod" || die "kubernetes/go.mod does not require k8s.io/kubernetes $KUBERNETES_VERSION"
  local bad; bad=$(grep -E '=> k8s.io/[a-z-]+ v' "$HERE/kubernetes/go.mod" | grep -v " $KUBERNETES_STAGING_VERSION\$" || true)
  [[ -z $bad ]] || die "kubernetes/go.mod replaces staging modules with something other than $KUBERNETES_STAGING_VERSION: $bad"
  grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION\$" "$HERE/etcd/go.mod" || die "etcd/go.mod does not require etcd $ETCD_VERSION"
  grep -q "github.com/coredns/coredns $COREDNS_VERSION\$" "$HERE/coredns/go.mod" || die "coredns/go.mod does not require coredns $COREDNS_VERSION"
  grep -q "k8s.io/client-go $KUBERNETES_STAGING_VERSION\$" "$HERE/provisioner/go.mod" || die "provisioner/go.mod does not require client-go $KUBERNETES_STAGING_VERSION"
  grep -q "github.com/cloudnativelabs/kube-router/v2 $KUBE_ROUTER_VERSION\$" "$HERE/kube-router/go.mod" || die "kube-router/go.mod does not require kube-router $KUBE_ROUTER_VERSION"
}

# go_build DIR MODULE-DIR LOGNAME LDFLAGS PKG...: build into DIR/bin atomically.
go_build() {
  local dir=$1 mod=$2 name=$3 ldflags=$4; shift 4
  mkdir -p "$dir"
  local tmp=$dir/bin.tmp.$$
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "build: $name -> $dir (log: $dir/build.log)"
  local t0=$SECONDS
  if ! (cd "$mod" && CGO_ENABLED=0 nice -n 10 "$GO" build -ldflags "$ldflags" -o "$tmp/" "$@") >"$dir/build.log" 2>&1; then
    tail -30 "$dir/build.log" >&2; rm -rf "$tmp"; die "build of $name failed (see $dir/build.log)"
  fi
  rm -rf "${dir:?}/bin"; mv "$tmp" "$dir/bin"
  log "build: $name done in $((SECONDS - t0))s"
}

# mkimage OUT.tar NAME:TAG ROOTFS-DIR USER ENTRYPOINT...: a docker-archive
# (what `docker save` writes) of a single layer holding ROOTFS-DIR.
mkimage() {
  local out=$1 ref=$2 rootfs=$3 user=$4; shift 4
  local tmp; tmp=$(mktemp -d)
  mkdir -p "$tmp/img"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$tmp/layer.tar" .
  local diff; diff=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
  mkdir -p "$tmp/img/$diff"; mv "$tmp/layer.tar" "$tmp/img/$diff/layer.tar"
  local ep="" a
  for a in "$@"; do ep+="${ep:+,}\"$a\""; done
  printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"User":"%s","Env":["PATH=/"],"Entrypoint":[%s],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"polyrpc infra/cluster/cluster.sh mkimage"}]}' \
    "$user" "$ep" "$diff" >"$tmp/config.json"
  local cfg; cfg=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
  mv "$tmp/config.json" "$tmp/img/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cfg" "$ref" "$diff" >"$tmp/img/manifest.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/img" -cf "$out.tmp" . && mv "$out.tmp" "$out"
  rm -rf "$tmp"
}

# a rootfs with the usual mount points and one static binary at /NAME
mkrootfs() {
  local dir=$1 bin=$2
  rm -rf "$dir"; mkdir -p "$dir"/{dev,proc,sys,etc,tmp,var/run}
  chmod 1777 "$dir/tmp"
  install -m 0755 "$bin" "$dir/$(basename "$bin")"
}

cmd_build() {
  check_pins
  command -v "$GO" >/dev/null || die "go not found"
  resolve_dirs
  local t0=$SECONDS c ok=1
  for c in "${K8S_CMDS[@]}"; do [[ -x $K8S_BIN/$c ]] || ok=; done
  if [[ -n $ok ]]; then log "build: kubernetes $KUBERNETES_VERSION cached ($K8S_DIR)"; else
    local pkgs=(); for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    go_build "$K8S_DIR" "$HERE/kubernetes" "kubernetes $KUBERNETES_VERSION (${K8S_CMDS[*]}; cold: ~10 min on 2 cores)" "$(k8s_ldflags)" "${pkgs[@]}"
    "$K8S_BIN/kube-apiserver" --version | grep "$KUBERNETES_VERSION\$" >/dev/null || die "kube-apiserver does not report $KUBERNETES_VERSION"
  fi
  if [[ -x $ETCD_DIR/bin/etcd ]]; then log "build: etcd $ETCD_VERSION cached"; else
    go_build "$ETCD_DIR" "$HERE/etcd" "etcd $ETCD_VERSION" "-s -w" . # module path ends in /etcd: binary etcd
  fi
  if [[ -x $CDNS_DIR/bin/coredns ]]; then log "build: coredns $COREDNS_VERSION cached"; else
    go_build "$CDNS_DIR" "$HERE/coredns" "coredns $COREDNS_VERSION" "-s -w" .
  fi
  if [[ -x $KR_DIR/bin/kube-router ]]; then log "build: kube-router $KUBE_ROUTER_VERSION cached"; else
    go_build "$KR_DIR" "$HERE/kube-router" "kube-router $KUBE_ROUTER_VERSION" "-s -w" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
  fi
  if [[ -x $PROV_DIR/bin/provisioner ]]; then log "build: provisioner cached"; else
    go_build "$PROV_DIR" "$HERE/provisioner" "provisioner" "-s -w" .
  fi
  if [[ -s $IMG_DIR/pause.tar && -s $IMG_DIR/echo.tar && -s $IMG_DIR/coredns.tar ]]; then log "build: images cached ($IMG_DIR)"; else
    mkdir -p "$IMG_DIR"
    go_build "$IMG_DIR/pause" "$HERE/pause" pause "-s -w" .
    go_build "$IMG_DIR/echo" "$HERE/echo" echo "-s -w" .
    mkrootfs "$IMG_DIR/rootfs-pause" "$IMG_DIR/pause/bin/pause"
    mkimage "$IMG_DIR/pause.tar" "$PAUSE_IMAGE" "$IMG_DIR/rootfs-pause" 65535:65535 /pause
    mkrootfs "$IMG_DIR/rootfs-echo" "$IMG_DIR/echo/bin/echo"
    mkimage "$IMG_DIR/echo.tar" "$ECHO_IMAGE" "$IMG_DIR/rootfs-echo" 65532:65532 /echo
    mkrootfs "$IMG_DIR/rootfs-coredns" "$CDNS_DIR/bin/coredns"
    mkimage "$IMG_DIR/coredns.tar" "$COREDNS_IMAGE" "$IMG_DIR/rootfs-coredns" 0:0 /coredns
    rm -rf "$IMG_DIR"/rootfs-*
    log "build: images $PAUSE_IMAGE $ECHO_IMAGE $COREDNS_IMAGE -> $IMG_DIR"
  fi
  log "build: all done in $((SECONDS - t0))s"
}

cmd_path() {
  resolve_dirs
  case ${1:-} in
    bin) echo "$K8S_BIN" ;;
    echo-image) echo "$IMG_DIR/echo.tar" ;;
    pause-image) echo "$IMG_DIR/pause.tar" ;;
    coredns-image) echo "$IMG_DIR/coredns.tar" ;;
    echo-image-name) echo "$ECHO_IMAGE" ;;
    kubeconfig) echo "$KUBECONFIG_PATH" ;;
    state) echo "$STATE" ;;
    cache) echo "$CACHE" ;;
    *) die "path: unknown name '${1:-}'" ;;
  esac
}

# ---------------------------------------------------------------- processes
# start NAME CMD...: run CMD detached (own session), log to $LOGS/NAME.log
start() {
  local name=$1; shift
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
  local pid=$!
  echo "$pid $(readlink -f "$(command -v "$1")")" >"$PIDS/$name.pid"
  sleep 0.2
  alive "$name" || { tail -20 "$LOGS/$name.log" >&2; die "$name exited at once (log: $LOGS/$name.log)"; }
}
# alive NAME: the recorded process runs the recorded binary
alive() {
  local f=$PIDS/$1.pid pid exe
  [[ -f $f ]] || return 1
  read -r pid exe <"$f"
  [[ -d /proc/$pid ]] && [[ $(readlink -f "/proc/$pid/exe" 2>/dev/null) == "$exe" ]]
}
# stop NAME [SECONDS]: TERM, then KILL after SECONDS (default 10)
stop() {
  local name=$1 wait=${2:-10} pid exe i
  alive "$name" || { rm -f "$PIDS/$name.pid"; return 0; }
  read -r pid exe <"$PIDS/$name.pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do alive "$name" || break; sleep 0.1; done
  if alive "$name"; then log "down: $name ($pid) did not stop on TERM, killing"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
  rm -f "$PIDS/$name.pid"
}
# wait_for DESCRIPTION SECONDS CMD...: poll CMD until it succeeds
wait_for() {
  local what=$1 secs=$2 i; shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "timed out after ${secs}s waiting for $what"
}

kc() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
ctrk() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

NETWORK_POLICY=${POLYRPC_CLUSTER_NETWORK_POLICY:-1}
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy provisioner)
[[ $NETWORK_POLICY == 1 ]] && COMPONENTS+=(kube-router)
is_up() { local c; for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done; }

# ---------------------------------------------------------------- pki
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }
# cert NAME SUBJECT EKU [SANS]
cert() {
  local name=$1 subj=$2 eku=$3 sans=${4:-}
  key "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 365 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
gen_pki() {
  mkdir -p "$PKI"; chmod 700 "$PKI"
  key "$PKI/ca.key"
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=polyrpc-cluster-ca" -days 3650 -out "$PKI/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  cert etcd "/CN=etcd" serverAuth,clientAuth "DNS:localhost,IP:127.0.0.1"
  cert apiserver-etcd-client "/CN=kube-apiserver-etcd-client" clientAuth
  cert apiserver "/CN=kube-apiserver" serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost,DNS:$NODE_NAME,IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$NODE_IP"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  cert admin "/O=system:masters/CN=kubernetes-admin" clientAuth
  cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  cert scheduler "/CN=system:kube-scheduler" clientAuth
  cert kube-proxy "/CN=system:kube-proxy" clientAuth
  cert kube-router "/CN=system:kube-router" clientAuth
  cert provisioner "/CN=system:polyrpc-provisioner" clientAuth
  cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
  # the apiserver reaches the kubelet by Hostname (-> 127.0.0.1 via /etc/hosts)
  cert kubelet "/CN=$NODE_NAME" serverAuth "DNS:$NODE_NAME,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP"
  # front proxy (aggregation layer): its own CA, so components find a requestheader CA
  mv "$PKI/ca.crt" "$PKI/ca.crt.main"; mv "$PKI/ca.key" "$PKI/ca.key.main"
  key "$PKI/ca.key"
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=polyrpc-cluster-front-proxy-ca" -days 3650 -out "$PKI/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  cert front-proxy-client "/CN=front-proxy-client" clientAuth
  mv "$PKI/ca.crt" "$PKI/front-proxy-ca.crt"; mv "$PKI/ca.key" "$PKI/front-proxy-ca.key"
  mv "$PKI/ca.crt.main" "$PKI/ca.crt"; mv "$PKI/ca.key.main" "$PKI/ca.key"
  key "$PKI/sa.key"
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}
# kubeconfig FILE USER CERT-NAME
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: polyrpc
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$3.crt")
    client-key-data: $(base64 -w0 "$PKI/$3.key")
contexts:
- name: polyrpc
  context:
    cluster: polyrpc
    user: $2
current-context: polyrpc
EOF
  chmod 600 "$1"
}

# ---------------------------------------------------------------- machine state
SYSCTL_RE='^(kernel\.(panic|panic_on_oops|keys\.root_max(keys|bytes))|vm\.(overcommit_memory|panic_on_oom)|net\.ipv4\.(ip_forward|conf\.(all|default)\.[a-z_]+)|net\.ipv6\.conf\.(all|default)\.(forwarding|disable_ipv6)|net\.bridge\.[a-z_-]+|net\.netfilter\.nf_conntrack_(max|tcp_timeout_established|tcp_timeout_close_wait|udp_timeout|udp_timeout_stream)|net\.core\.somaxconn) = '
record_machine() {
  mkdir -p "$PRE"
  sysctl -a 2>/dev/null | grep -E "$SYSCTL_RE" >"$PRE/sysctl" || true
  local d
  : >"$PRE/dirs"
  for d in "${SYSTEM_DIRS[@]}"; do [[ -e $d ]] && echo "$d" >>"$PRE/dirs"; done
  ls /run/netns 2>/dev/null >"$PRE/netns" || true
  ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 >"$PRE/links"
  ls /var/log/containers 2>/dev/null >"$PRE/container-logs" || true
  { ipset list -n 2>/dev/null || true; } >"$PRE/ipsets"
}
restore_sysctls() {
  [[ -f $PRE/sysctl ]] || return 0
  local line k v cur f
  # ip_forward first: writing it resets every interface's forwarding too
  for pass in ip_forward rest; do
    while IFS= read -r line; do
      k=${line%% = *}; v=${line#* = }
      if [[ $pass == ip_forward ]]; then [[ $k == net.ipv4.ip_forward ]] || continue; else [[ $k != net.ipv4.ip_forward ]] || continue; fi
      f=/proc/sys/${k//.//}
      [[ -w $f ]] || continue
      cur=$(sysctl -n "$k" 2>/dev/null) || continue
      [[ $cur == "$v" ]] && continue
      if printf '%s\n' "$v" >"$f" 2>/dev/null; then log "down: sysctl $k: $cur -> $v (restored)"; else log "down: WARNING could not restore sysctl $k=$v"; fi
    done <"$PRE/sysctl"
  done
}

# iptables/ip6tables: remove every chain (and jump to it) named KUBE-*, CNI-*, POLYRPC-*
IPT_CHAINS_RE='(KUBE|CNI|POLYRPC)-'
clean_iptables() {
  local ipt t rule
  for ipt in iptables ip6tables; do
    command -v $ipt >/dev/null || continue
    for t in filter nat mangle raw; do
      $ipt -t $t -S >/dev/null 2>&1 || continue
      # rules in any chain that jump to one of ours
      $ipt -t $t -S 2>/dev/null | grep -E -- "^-A .* -j ${IPT_CHAINS_RE}" | grep -Ev -- "^-A ${IPT_CHAINS_RE}" | while IFS= read -r rule; do
        eval "$ipt -t $t ${rule/#-A/-D}" 2>/dev/null || true
      done || true
      local chains; chains=$($ipt -t $t -S 2>/dev/null | awk '$1=="-N"{print $2}' | grep -E "^${IPT_CHAINS_RE}" || true)
      for c in $chains; do $ipt -t $t -F "$c" 2>/dev/null || true; done
      for c in $chains; do $ipt -t $t -X "$c" 2>/dev/null || true; done
    done
  done
}

# ipsets kube-router made (after the iptables rules that use them are gone)
clean_ipsets() {
  command -v ipset >/dev/null || return 0
  local set
  for set in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router-)' || true); do
    grep -qxF "$set" "$PRE/ipsets" 2>/dev/null && continue
    ipset destroy "$set" 2>/dev/null || log "down: WARNING could not destroy ipset $set"
  done
}

# egress guard: nothing from the pod network or to a ClusterIP may leave the
# machine (its only network is the workplace's; see README)
add_egress_guard() {
  iptables -N POLYRPC-EGRESS
  iptables -A POLYRPC-EGRESS -s "$CLUSTER_CIDR" -o "$BRIDGE" -j RETURN
  iptables -A POLYRPC-EGRESS -s "$CLUSTER_CIDR" -d "$CLUSTER_CIDR" -j RETURN
  iptables -A POLYRPC-EGRESS -s "$CLUSTER_CIDR" -j REJECT
  iptables -I FORWARD 1 -j POLYRPC-EGRESS
  iptables -N POLYRPC-OUT
  iptables -A POLYRPC-OUT -d "$SERVICE_CIDR" -j REJECT # a ClusterIP kube-proxy did not DNAT
  # (-o still names the pre-DNAT route's device in OUTPUT, so match addresses only)
  iptables -A POLYRPC-OUT -d "$POD_CIDR" -j RETURN
  iptables -A POLYRPC-OUT -d "$CLUSTER_CIDR" -j REJECT # no pod is there
  iptables -I OUTPUT 1 -j POLYRPC-OUT
}

# ---------------------------------------------------------------- configs
write_configs() {
  mkdir -p "$STATE/containerd"/{root,state,opt,certs.d/_default} "$STATE/cni"/{net.d,networks} "$STATE/kubelet" "$STATE/pod-logs" "$STATE/runc"
  # Pulls go nowhere: every registry resolves to a closed loopback port, so a
  # missing image fails fast with ErrImagePull instead of reaching out.
  cat >"$STATE/containerd/certs.d/_default/hosts.toml" <<'EOF'
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
EOF
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"
[debug]
  level = "info"
# (containerd 1.6's tasks service needs the v1 runtime loaded, unused here)
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "$STATE/runc-v1"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # no CAP_SYS_RESOURCE: never ask for an oom_score_adj below containerd's own
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$STATE/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE/containerd/certs.d"
EOF
  cat >"$STATE/cni/net.d/10-polyrpc.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "polyrpc",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni/networks"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
# hybrid cgroups (v1 controllers): runc 1.1 with cgroupfs; 1.34 still allows v1
cgroupDriver: cgroupfs
failCgroupV1: false
# no CAP_SYS_RESOURCE: keep kubelet's own oom_score_adj and stay at the hard NOFILE limit
oomScoreAdj: 0
maxOpenFiles: $(ulimit -Hn)
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: $CLUSTER_DOMAIN
# pods get only cluster DNS, never the host's resolver
resolvConf: ""
podLogsDir: $STATE/pod-logs
# imported images cannot be pulled again: never garbage-collect them
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
failSwapOn: false
protectKernelDefaults: false
shutdownGracePeriod: 0s
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
EOF
  cat >"$STATE/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $CLUSTER_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [primary]
# no CAP_SYS_RESOURCE; and leave conntrack sysctls and route_localnet alone
oomScoreAdj: 0
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
# kube-router (NetworkPolicy) rewrites the whole filter table from a snapshot and
# can undo kube-proxy's latest filter rules ("no endpoints" REJECTs): resync often
iptables: {localhostNodePorts: false, masqueradeAll: false, syncPeriod: 5s, minSyncPeriod: 1s}
EOF
}

# the default StorageClass and the rights of the provisioner that serves it
storage_manifest() {
  cat <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: polyrpc.local/hostpath
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "polyrpc:provisioner"}
rules:
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, list, watch, create, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "polyrpc:provisioner"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "polyrpc:provisioner"}
subjects:
- {kind: User, name: "system:polyrpc-provisioner", apiGroup: rbac.authorization.k8s.io}
EOF
}

kuberouter_rbac() {
  cat <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "polyrpc:kube-router"}
rules:
- apiGroups: [""]
  resources: [namespaces, pods, services, nodes, endpoints]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "polyrpc:kube-router"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "polyrpc:kube-router"}
subjects:
- {kind: User, name: "system:kube-router", apiGroup: rbac.authorization.k8s.io}
EOF
}

coredns_manifest() {
  cat <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects:
- {kind: ServiceAccount, name: coredns, namespace: kube-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  # No forward plugin: names outside the cluster get NXDOMAIN, never an upstream query.
  Corefile: |
    $CLUSTER_DOMAIN:53 in-addr.arpa:53 ip6.arpa:53 {
        errors
        health {
            lameduck 5s
        }
        ready
        kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
            pods insecure
            ttl 30
        }
        prometheus :9153
        cache 30
        reload
        loadbalance
    }
    .:53 {
        errors
        template ANY ANY {
            rcode NXDOMAIN
        }
    }
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  replicas: 1
  selector:
    matchLabels: {k8s-app: kube-dns}
  template:
    metadata:
      labels: {k8s-app: kube-dns}
    spec:
      priorityClassName: system-cluster-critical
      serviceAccountName: coredns
      dnsPolicy: Default
      tolerations:
      - {key: CriticalAddonsOnly, operator: Exists}
      - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
      containers:
      - name: coredns
        image: $COREDNS_IMAGE
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        resources:
          limits: {memory: 170Mi}
          requests: {cpu: 100m, memory: 70Mi}
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        - {name: metrics, containerPort: 9153, protocol: TCP}
        livenessProbe:
          httpGet: {path: /health, port: 8080}
          initialDelaySeconds: 10
          periodSeconds: 10
          failureThreshold: 5
        readinessProbe:
          httpGet: {path: /ready, port: 8181}
          periodSeconds: 1
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
        volumeMounts:
        - {name: config-volume, mountPath: /etc/coredns, readOnly: true}
      volumes:
      - name: config-volume
        configMap:
          name: coredns
          items: [{key: Corefile, path: Corefile}]
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/cluster-service: "true", kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $DNS_SERVICE_IP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
  - {name: metrics, port: 9153, protocol: TCP}
EOF
}

# ---------------------------------------------------------------- up
node_ip() {
  if [[ -n ${POLYRPC_NODE_IP:-} ]]; then echo "$POLYRPC_NODE_IP"; return; fi
  local dev; dev=$(ip -4 route show default | awk '{for (i=1;i<NF;i++) if ($i=="dev") {print $(i+1); exit}}')
  [[ -n $dev ]] || die "no default route: set POLYRPC_NODE_IP"
  ip -4 -o addr show dev "$dev" scope global | awk 'NR==1 {split($4, a, "/"); print a[1]}'
}

print_env() {
  echo "export KUBECONFIG=$KUBECONFIG_PATH"
  echo "export PATH=$STATE/bin:\$PATH"
}

cmd_up() {
  need_root
  local t0=$SECONDS
  if [[ -d $STATE ]]; then
    resolve_dirs
    if is_up && kc get --raw /readyz >/dev/null 2>&1; then
      log "up: already up (state: $STATE)"; print_env; return 0
    fi
    log "up: found a stale or partial cluster in $STATE; tearing it down first"
    cmd_down
  fi
  cmd_install
  cmd_build
  resolve_dirs
  local p
  for p in "${PORTS[@]}"; do
    ss -Hltn "sport = :$p" | grep . >/dev/null && die "port $p is in use on this host"
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && die "a link named $BRIDGE exists already"
  [[ -f $CNI_BIN_DIR/bridge && -f $CNI_BIN_DIR/host-local && -f $CNI_BIN_DIR/portmap ]] || die "CNI plugins missing in $CNI_BIN_DIR (cluster.sh install)"

  NODE_IP=$(node_ip); [[ -n $NODE_IP ]] || die "could not find the node address"
  log "up: node $NODE_NAME at $NODE_IP, state in $STATE"
  mkdir -p "$STATE" "$RUN" "$LOGS" "$PIDS" "$STATE/bin"
  chmod 700 "$STATE"
  record_machine
  echo "$NODE_IP" >"$STATE/node-ip"
  ln -sf "$K8S_BIN/kubectl" "$STATE/bin/kubectl"
  [[ -x $HERE/../../.tools/bin/helm ]] && ln -sf "$(readlink -f "$HERE/../../.tools/bin/helm")" "$STATE/bin/helm"

  modprobe br_netfilter 2>/dev/null || true
  modprobe overlay 2>/dev/null || true
  sysctl -qw net.ipv4.ip_forward=1
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] && sysctl -qw net.bridge.bridge-nf-call-iptables=1
  add_egress_guard

  gen_pki
  kubeconfig "$KUBECONFIG_PATH" kubernetes-admin admin
  kubeconfig "$STATE/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
  kubeconfig "$STATE/scheduler.kubeconfig" system:kube-scheduler scheduler
  kubeconfig "$STATE/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet-client
  kubeconfig "$STATE/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
  kubeconfig "$STATE/kube-router.kubeconfig" system:kube-router kube-router
  kubeconfig "$STATE/provisioner.kubeconfig" system:polyrpc-provisioner provisioner
  write_configs

  start etcd "$ETCD_DIR/bin/etcd" --name "$NODE_NAME" --data-dir "$STATE/etcd" \
    --listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
    --listen-peer-urls https://127.0.0.1:2380 --initial-advertise-peer-urls https://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=https://127.0.0.1:2380" --initial-cluster-state new \
    --listen-metrics-urls http://127.0.0.1:2381 \
    --cert-file "$PKI/etcd.crt" --key-file "$PKI/etcd.key" --trusted-ca-file "$PKI/ca.crt" --client-cert-auth \
    --peer-cert-file "$PKI/etcd.crt" --peer-key-file "$PKI/etcd.key" --peer-trusted-ca-file "$PKI/ca.crt" --peer-client-cert-auth \
    --unsafe-no-fsync --snapshot-count 10000
  wait_for "etcd" 30 curl -sf http://127.0.0.1:2381/health

  start kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers https://127.0.0.1:2379 --etcd-cafile "$PKI/ca.crt" \
    --etcd-certfile "$PKI/apiserver-etcd-client.crt" --etcd-keyfile "$PKI/apiserver-etcd-client.key" \
    --bind-address 0.0.0.0 --secure-port 6443 --advertise-address "$NODE_IP" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types Hostname \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction,PodSecurity \
    --allow-privileged=true --profiling=false
  wait_for "kube-apiserver /readyz" 90 kc get --raw /readyz

  start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
    --allocate-node-cidrs --cluster-cidr "$CLUSTER_CIDR" --node-cidr-mask-size 24 --service-cluster-ip-range "$SERVICE_CIDR" \
    --profiling=false
  start kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false

  start containerd containerd --config "$STATE/containerd/config.toml"
  wait_for "containerd" 30 ctrk version
  ctrk images import "$IMG_DIR/pause.tar" >/dev/null
  ctrk images import "$IMG_DIR/coredns.tar" >/dev/null

  start kubelet "$K8S_BIN/kubelet" --config "$STATE/kubelet-config.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet" --hostname-override "$NODE_NAME" --v 1
  start kube-proxy "$K8S_BIN/kube-proxy" --config "$STATE/kube-proxy-config.yaml"
  if [[ $NETWORK_POLICY == 1 ]]; then
    # NetworkPolicy enforcement only (iptables + ipset on the host); the bridge
    # plugin keeps doing pod networking and kube-proxy the Services.
    kuberouter_rbac | kc apply -f - >/dev/null
    start kube-router "$KR_DIR/bin/kube-router" --kubeconfig "$STATE/kube-router.kubeconfig" --hostname-override "$NODE_NAME" \
      --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
      --enable-cni=false --enable-pod-egress=false --enable-ipv6=false --health-port 0 --metrics-port 0 \
      --service-cluster-ip-range "$SERVICE_CIDR" --iptables-sync-period 1m --v 1
  fi

  storage_manifest | kc apply -f - >/dev/null
  start provisioner "$PROV_DIR/bin/provisioner" --kubeconfig "$STATE/provisioner.kubeconfig" --root "$STATE/volumes" \
    --storage-class standard --provisioner-name polyrpc.local/hostpath
  wait_for "node $NODE_NAME to register" 60 kc get node "$NODE_NAME"
  kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null || die "node not Ready (see $LOGS/kubelet.log)"
  log "up: node Ready after $((SECONDS - t0))s"
  wait_for "the default service account" 60 kc -n default get serviceaccount default
  coredns_manifest | kc apply -f - >/dev/null
  kc -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null || die "CoreDNS did not become available"
  wait_for "CoreDNS to answer on $DNS_SERVICE_IP" 60 dns_ok
  log "up: cluster up in $((SECONDS - t0))s; logs in $LOGS"
  print_env
}
dns_ok() {
  [[ $(dig +short +time=1 +tries=1 "@$DNS_SERVICE_IP" "kubernetes.default.svc.$CLUSTER_DOMAIN" A) == "$API_SERVICE_IP" ]]
}

# ---------------------------------------------------------------- down
cmd_down() {
  need_root
  if [[ ! -d $STATE ]]; then log "down: nothing is up ($STATE does not exist)"; return 0; fi
  resolve_dirs
  local t0=$SECONDS
  if [[ -n ${POLYRPC_CLUSTER_KEEP_LOGS:-} && -d $LOGS ]]; then
    mkdir -p "$POLYRPC_CLUSTER_KEEP_LOGS" && cp -r "$LOGS"/. "$POLYRPC_CLUSTER_KEEP_LOGS"/ && log "down: logs copied to $POLYRPC_CLUSTER_KEEP_LOGS"
  fi
  # Everything is wiped afterwards, so nothing needs a graceful stop: kubelet
  # first (so it restarts nothing), then the containers (SIGKILL, by the pids
  # in the kubepods cgroups and through containerd), then the rest.
  stop kubelet 5
  kill_leftovers containers
  if alive containerd; then
    local id
    for id in $(ctrk tasks ls -q 2>/dev/null); do ctrk tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $(ctrk tasks ls -q 2>/dev/null); do ctrk tasks delete -f "$id" >/dev/null 2>&1 || true; done
  fi
  stop kube-proxy 5
  stop kube-router 5
  stop provisioner 5
  stop kube-scheduler 5
  stop kube-controller-manager 5
  stop kube-apiserver 5
  stop etcd 5
  stop containerd 5
  kill_leftovers all

  # mounts under the state dir, netns created since up
  unmount_ours
  local ns
  for ns in /run/netns/*; do
    [[ -e $ns ]] || continue
    grep -qxF "${ns##*/}" "$PRE/netns" 2>/dev/null && continue
    rm -f "$ns"
  done

  # links: the bridge and any veth left over
  ip link del "$BRIDGE" 2>/dev/null || true
  local l
  for l in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    grep -qxF "$l" "$PRE/links" 2>/dev/null || ip link del "$l" 2>/dev/null || true
  done

  # iptables: kube-proxy's own cleanup, then every chain it, kubelet, CNI or we made
  [[ -x $K8S_BIN/kube-proxy ]] && "$K8S_BIN/kube-proxy" --cleanup >>"$LOGS/kube-proxy-cleanup.log" 2>&1 || true
  [[ -x $KR_DIR/bin/kube-router ]] && "$KR_DIR/bin/kube-router" --cleanup-config >>"$LOGS/kube-router-cleanup.log" 2>&1 || true
  clean_iptables
  clean_ipsets
  conntrack -D -s "$CLUSTER_CIDR" >/dev/null 2>&1 || true
  conntrack -D -d "$CLUSTER_CIDR" >/dev/null 2>&1 || true
  conntrack -D -d "$SERVICE_CIDR" >/dev/null 2>&1 || true
  conntrack -D --orig-dst "$SERVICE_CIDR" >/dev/null 2>&1 || true

  # cgroups kubelet/runc made (cgroupfs driver: /kubepods in every hierarchy)
  local cg
  for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ -d $cg ]] && log "down: WARNING could not remove cgroup $cg"
  done

  restore_sysctls

  # symlinks kubelet made in /var/log/containers (they point into $STATE)
  local f
  for f in /var/log/containers/*; do
    [[ -L $f ]] || continue
    [[ $(readlink "$f") == "$STATE"/* ]] && rm -f "$f"
  done
  local d
  for d in "${SYSTEM_DIRS[@]}"; do
    [[ -e $d ]] || continue
    grep -qxF "$d" "$PRE/dirs" 2>/dev/null && continue
    if findmnt -rn -o TARGET | grep "^$d\(/\|\$\)" >/dev/null; then log "down: WARNING $d still has mounts; left in place"; continue; fi
    rm -rf --one-file-system "$d"
  done

  if findmnt -rn -o TARGET | grep "^$STATE\(/\|\$\)" >/dev/null; then
    die "down: mounts remain under $STATE; not removing it: $(findmnt -rn -o TARGET | grep "^$STATE" | head -3 | tr '\n' ' ')"
  fi
  rm -rf --one-file-system "$STATE"
  log "down: done in $((SECONDS - t0))s"
}

# kill_leftovers containers|all: SIGKILL the container processes (the pids in
# the kubepods cgroups); with "all" also every process whose command line names
# the state dir (shims, a containerd whose pid file was lost)
kill_leftovers() {
  local pid pids=() i
  if [[ $1 == all ]]; then
    local p
    for p in /proc/[0-9]*; do
      pid=${p#/proc/}
      [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
      tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -F -- "$STATE/" >/dev/null && pids+=("$pid")
    done
  fi
  local procs
  for procs in /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/memory/kubepods /sys/fs/cgroup/unified/kubepods; do
    [[ -d $procs ]] || continue
    while IFS= read -r pid; do pids+=("$pid"); done < <(find "$procs" -name cgroup.procs -exec cat {} + 2>/dev/null)
  done
  ((${#pids[@]} == 0)) && return 0
  log "down: killing ${#pids[@]} $1 processes"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    local left=0
    for pid in "${pids[@]}"; do [[ -d /proc/$pid ]] && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] && left=1; done
    ((left)) || break
    sleep 0.1
  done
}

unmount_ours() {
  local m i
  for ((i = 0; i < 3; i++)); do
    # deepest first
    local ms; ms=$(findmnt -rn -o TARGET | grep -E "^($STATE(/|\$)|/run/netns/cni-|/run/containerd/)" | awk '{print length, $0}' | sort -rn | cut -d' ' -f2- || true)
    [[ -n $ms ]] || return 0
    while IFS= read -r m; do
      m=$(printf '%b' "${m//\\x/\\x}")
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done <<<"$ms"
  done
}

# ---------------------------------------------------------------- the rest
cmd_status() {
  if [[ ! -d $STATE ]]; then echo "down"; return 3; fi
  resolve_dirs
  local c bad=0
  for c in "${COMPONENTS[@]}"; do
    if alive "$c"; then echo "$c: running (pid $(cut -d' ' -f1 "$PIDS/$c.pid"))"; else echo "$c: NOT running"; bad=1; fi
  done
  kc get nodes 2>/dev/null || bad=1
  ((bad == 0)) && echo "up" || { echo "partial"; return 1; }
}

cmd_import() {
  need_root
  (($# > 0)) || die "usage: cluster.sh import IMAGE-ARCHIVE..."
  alive containerd || die "the cluster is not up"
  local a
  for a in "$@"; do
    [[ -f $a ]] || die "no such file: $a"
    log "import: $a"
    ctrk images import --no-unpack=false "$a"
  done
}

cmd_images() { alive containerd || die "the cluster is not up"; ctrk images ls -q; }

cmd_env() {
  [[ -f $KUBECONFIG_PATH ]] || die "the cluster is not up (no $KUBECONFIG_PATH)"
  print_env
}

main() {
  local cmd=${1:-help}; shift || true
  case $cmd in
    install) cmd_install "$@" ;;
    build) cmd_build "$@" ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    import) cmd_import "$@" ;;
    images) cmd_images "$@" ;;
    kubectl) resolve_dirs; [[ -f $KUBECONFIG_PATH ]] || die "the cluster is not up"; exec "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@" ;;
    env) cmd_env ;;
    path) cmd_path "$@" ;;
    help | -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (cluster.sh help)" ;;
  esac
}
main "$@"
