#!/usr/bin/env bash
# Proof that infra/cluster works, end to end: build, up, a restricted workload
# from a locally imported image, Service by DNS name from a pod and by ClusterIP
# from the host, logs, port-forward, the in-cluster apiserver, then down and a
# check that nothing is left behind. Exits non-zero on the first failure.
#
#   infra/cluster/smoke.sh            (the cluster must be down to begin with)
#   SMOKE_KEEP_UP=1 smoke.sh          leave the cluster up (skips the down checks)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CL=$HERE/cluster.sh
NS=polyrpc-smoke
STATE=$("$CL" path state)
PASSED=0
UPPED=
T0=$SECONDS

say() { printf '[smoke %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
ok() { PASSED=$((PASSED + 1)); say "ok: $*"; }
fail() {
  say "FAIL: $*"
  exit 1
}
on_exit() {
  local rc=$?
  if ((rc != 0)); then
    say "---- diagnostics"
    if [[ -n $UPPED && -d $STATE ]]; then
      "$CL" kubectl get pods -A -o wide 2>&1 || true
      "$CL" kubectl -n "$NS" describe pods 2>&1 | tail -40 || true
      for f in "$STATE"/logs/*.log; do
        [[ $f == */containerd.log ]] && continue
        echo "== $f"
        grep -v 'level=info' "$f" | tail -8 || true
      done
      say "tearing down after failure"
      "$CL" down || true
    fi
    echo "smoke: $PASSED passed, 1 failed"
  fi
  exit $rc
}
trap on_exit EXIT
kc() { "$CL" kubectl "$@"; }

[[ $(id -u) == 0 ]] || fail "run as root"
if [[ -d $STATE ]]; then fail "a cluster is already up ($STATE): run '$CL down' first; smoke.sh proves the whole cycle"; fi

# --- what the machine looks like before
SYSCTL_RE='^(kernel\.(panic|panic_on_oops|keys\.root_max(keys|bytes))|vm\.(overcommit_memory|panic_on_oom)|net\.ipv4\.(ip_forward|conf\.(all|default)\.)|net\.ipv6\.conf\.(all|default)\.forwarding|net\.bridge\.|net\.ipv4\.conf\.all\.route_localnet) = '
sysctl -a 2>/dev/null | grep -E "$SYSCTL_RE" | sort >/tmp/polyrpc-smoke.sysctl.before || true
ip -o link show | awk -F': ' '{print $2}' | sort >/tmp/polyrpc-smoke.links.before
PRE_DIRS=$(for d in /run/containerd /run/netns /var/log/containers /var/lib/cni /var/lib/kubelet; do [[ -e $d ]] && echo "$d"; done || true)

# --- build + up
"$CL" install
t=$SECONDS; "$CL" build; ok "build ($((SECONDS - t))s)"
t=$SECONDS; UPPED=1; "$CL" up; UP_SECS=$((SECONDS - t)); ok "up (${UP_SECS}s)"
"$CL" up 2>&1 | grep "already up" || fail "a second up did not say 'already up'"
ok "up is idempotent"
[[ $(kc version -o json | grep -c '"gitVersion": "v1.34.4"') == 2 ]] || fail "client/server are not v1.34.4"
ok "kubectl and apiserver report v1.34.4"

# --- a local image, a restricted namespace
"$CL" import "$("$CL" path echo-image)"
IMAGE=$("$CL" path echo-image-name)
"$CL" images | grep -xF "$IMAGE" || fail "$IMAGE not listed by 'cluster.sh images'"
ok "imported $IMAGE"

kc apply -f - <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
EOF
for _ in $(seq 100); do kc -n "$NS" get serviceaccount default >/dev/null 2>&1 && break; sleep 0.2; done

SECCTX='securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}'
CSECCTX='securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}'
if kc -n "$NS" run privileged-probe --image="$IMAGE" --image-pull-policy=Never --restart=Never --dry-run=server \
  --overrides='{"spec":{"containers":[{"name":"p","image":"'"$IMAGE"'","securityContext":{"privileged":true}}]}}' >/tmp/polyrpc-smoke.psa 2>&1; then
  fail "a privileged pod was admitted into the restricted namespace"
fi
grep -q 'violates PodSecurity "restricted' /tmp/polyrpc-smoke.psa || fail "unexpected rejection: $(cat /tmp/polyrpc-smoke.psa)"
ok "Pod Security 'restricted' rejects a privileged pod"

t=$SECONDS
kc -n "$NS" apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      automountServiceAccountToken: false
      $SECCTX
      containers:
      - name: echo
        image: $IMAGE
        imagePullPolicy: Never
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
        resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}
        $CSECCTX
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  type: ClusterIP
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
EOF
kc -n "$NS" rollout status deployment/echo --timeout=90s || fail "the echo Deployment did not become available"
ok "restricted, read-only, non-root Deployment Running and Ready ($((SECONDS - t))s after apply)"
phase=$(kc -n "$NS" get pods -l app=echo -o jsonpath='{.items[0].status.phase}')
[[ $phase == Running ]] || fail "echo pod phase is $phase"

# --- from another pod: the Service by DNS name, and the apiserver through the kubernetes Service
kc -n "$NS" apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  $SECCTX
  initContainers:
  - name: by-dns-name
    image: $IMAGE
    imagePullPolicy: Never
    args: [get, http://echo.$NS.svc.cluster.local/from-pod]
    env: [{name: GET_RETRY_SECONDS, value: "15"}]
    $CSECCTX
  containers:
  - name: apiserver
    image: $IMAGE
    imagePullPolicy: Never
    args: [get, https://kubernetes.default.svc.cluster.local/version, /var/run/secrets/kubernetes.io/serviceaccount/ca.crt]
    env: [{name: GET_RETRY_SECONDS, value: "15"}]
    $CSECCTX
EOF
kc -n "$NS" wait --for=jsonpath='{.status.phase}'=Succeeded pod/client --timeout=60s >/dev/null ||
  fail "client pod did not succeed: $(kc -n "$NS" logs client -c by-dns-name 2>&1 | tail -3) $(kc -n "$NS" logs client -c apiserver 2>&1 | tail -3)"
kc -n "$NS" logs client -c by-dns-name | grep '^echo echo-.* /from-pod$' || fail "unexpected answer from echo.$NS.svc.cluster.local"
ok "pod -> http://echo.$NS.svc.cluster.local (cluster DNS + kube-proxy)"
kc -n "$NS" logs client -c apiserver | grep '"gitVersion": "v1.34.4"' || fail "pod could not reach the apiserver via kubernetes.default.svc"
ok "pod -> https://kubernetes.default.svc.cluster.local (advertised node address, CA verified)"

# --- from the host: ClusterIP and DNS
CIP=$(kc -n "$NS" get svc echo -o jsonpath='{.spec.clusterIP}')
curl -sf -m 5 "http://$CIP/from-host" | grep '/from-host$' || fail "host -> ClusterIP $CIP failed"
ok "host -> ClusterIP $CIP:80 (kube-proxy iptables)"
[[ $(dig +short "@10.96.0.10" "echo.$NS.svc.cluster.local") == "$CIP" ]] || fail "host DNS query for echo.$NS.svc.cluster.local"
ok "kube-dns 10.96.0.10 answers echo.$NS.svc.cluster.local = $CIP"

# --- logs and port-forward
kc -n "$NS" logs deployment/echo | grep 'GET /from-pod' || fail "kubectl logs does not show the request"
ok "kubectl logs"
PF_LOG=/tmp/polyrpc-smoke.pf.log
kc -n "$NS" port-forward svc/echo 18080:80 >"$PF_LOG" 2>&1 &
PF=$!
got=
for _ in $(seq 50); do
  if curl -sf -m 2 http://127.0.0.1:18080/port-forward 2>/dev/null | grep '/port-forward$'; then got=1; break; fi
  sleep 0.2
done
kill "$PF" 2>/dev/null || true
wait "$PF" 2>/dev/null || true
[[ -n $got ]] || fail "kubectl port-forward: $(cat "$PF_LOG")"
ok "kubectl port-forward"

# --- NetworkPolicy (kube-router's firewall): deny all ingress to echo, then allow role=client
# get_from NAME [LABEL [RETRY-SECONDS]]: a pod GETs the echo Service (retrying
# for RETRY-SECONDS: kube-router admits a new pod's IP a moment after it starts);
# prints the pod's final phase
get_from() {
  kc -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {${2:-role: none}}}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  $SECCTX
  containers:
  - name: get
    image: $IMAGE
    imagePullPolicy: Never
    args: [get, http://echo.$NS.svc.cluster.local/$1]
    env: [{name: GET_RETRY_SECONDS, value: "${3:-0}"}]
    $CSECCTX
EOF
  local phase=
  for _ in $(seq 200); do
    phase=$(kc -n "$NS" get pod "$1" -o jsonpath='{.status.phase}')
    [[ $phase == Succeeded || $phase == Failed ]] && break
    sleep 0.2
  done
  echo "$phase"
}
if [[ ${POLYRPC_CLUSTER_NETWORK_POLICY:-1} == 1 ]]; then
  kc -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: echo-deny-all}
spec:
  podSelector: {matchLabels: {app: echo}}
  policyTypes: [Ingress]
EOF
  for _ in $(seq 100); do iptables-save -t filter | grep -- '-A KUBE-NWPLCY-' >/dev/null && break; sleep 0.2; done
  [[ $(get_from blocked) == Failed ]] || fail "a NetworkPolicy denying all ingress did not block pod -> echo"
  ok "NetworkPolicy deny-all blocks pod -> Service (kube-router)"
  kc -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: echo-from-clients}
spec:
  podSelector: {matchLabels: {app: echo}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: 8080, protocol: TCP}]
EOF
  phase=$(get_from allowed "role: client" 15)
  [[ $phase == Succeeded ]] || fail "pod with role=client still blocked ($phase): $(kc -n "$NS" logs allowed 2>&1 | tail -2)"
  [[ $(get_from blocked-too) == Failed ]] || fail "pod without role=client got through"
  ok "NetworkPolicy allow-from-podSelector lets role=client in, keeps others out"
fi

# --- a PersistentVolumeClaim of the default StorageClass, written by a non-root pod
kc -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  $SECCTX
  containers:
  - name: write
    image: $IMAGE
    imagePullPolicy: Never
    args: [write, /data/file]
    volumeMounts: [{name: data, mountPath: /data}]
    $CSECCTX
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
EOF
kc -n "$NS" wait --for=jsonpath='{.status.phase}'=Succeeded pod/writer --timeout=60s >/dev/null ||
  fail "a pod could not write its PersistentVolumeClaim: $(kc -n "$NS" describe pvc data | tail -5)"
PV=$(kc -n "$NS" get pvc data -o jsonpath='{.spec.volumeName}')
DIR=$(kc get pv "$PV" -o jsonpath='{.spec.hostPath.path}')
[[ $(cat "$DIR/file") == ok ]] || fail "the volume's directory $DIR does not hold what the pod wrote"
ok "default StorageClass: PVC bound ($PV), written by a non-root pod"
kc -n "$NS" delete pod writer --wait=true >/dev/null
kc -n "$NS" delete pvc data --wait=true >/dev/null
for _ in $(seq 100); do kc get pv "$PV" >/dev/null 2>&1 || break; sleep 0.2; done
kc get pv "$PV" >/dev/null 2>&1 && fail "volume $PV was not deleted with its claim"
[[ -e $DIR ]] && fail "directory $DIR was not removed with its claim"
ok "deleting the PVC deletes the volume and its directory"

mem=$(ps -eo rss=,args= | awk '/\/(etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kube-router|provisioner) |^ *[0-9]+ containerd --config/ {s+=$1} END {printf "%.0f", s/1024}')
say "resident memory of etcd+control plane+kubelet+kube-proxy+kube-router+provisioner+containerd: ${mem} MiB"

if [[ -n ${SMOKE_KEEP_UP:-} ]]; then
  say "leaving the cluster up (SMOKE_KEEP_UP)"
  echo "smoke: $PASSED passed, 0 failed"
  exit 0
fi

# --- down leaves nothing behind
t=$SECONDS; "$CL" down; UPPED=; ok "down ($((SECONDS - t))s)"
"$CL" down 2>&1 | grep 'nothing is up' || fail "a second down did not say 'nothing is up'"
ok "down is safe when nothing is up"
left=$(ip -o link show | awk -F': ' '{print $2}' | sort | comm -13 /tmp/polyrpc-smoke.links.before - || true)
[[ -z $left ]] || fail "links left behind: $left"
ok "ip link: nothing new"
left=$(mount | grep -E 'kubelet|polyrpc-cluster|/run/netns|/run/containerd' || true)
[[ -z $left ]] || fail "mounts left behind: $left"
ok "mounts: nothing left"
left=$({ iptables-save; ip6tables-save; } 2>/dev/null | grep -E 'KUBE|CNI-|POLYRPC' || true)
[[ -z $left ]] || fail "iptables rules left behind: $(echo "$left" | head -5)"
ok "iptables/ip6tables: no KUBE/CNI/POLYRPC chains or rules"
left=$(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router)' || true)
[[ -z $left ]] || fail "ipsets left behind: $left"
ok "ipset: none left"
left=$(ps -eo pid=,args= | grep -E '/cluster/(kubernetes|etcd|kube-router|provisioner)-v[^ /]*/bin/|containerd --config '"$STATE"'|containerd-shim|/pause$|/coredns -conf|/echo$' | grep -v grep || true)
[[ -z $left ]] || fail "processes left behind: $left"
ok "processes: none left"
sysctl -a 2>/dev/null | grep -E "$SYSCTL_RE" | sort >/tmp/polyrpc-smoke.sysctl.after || true
diff /tmp/polyrpc-smoke.sysctl.before /tmp/polyrpc-smoke.sysctl.after || fail "sysctls differ from before up"
ok "sysctls as before"
for d in /run/containerd /run/netns /var/log/containers /var/lib/cni /var/lib/kubelet "$STATE"; do
  if [[ -e $d ]] && ! grep -qxF "$d" <<<"$PRE_DIRS"; then fail "$d left behind"; fi
done
ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null && fail "kubepods cgroups left behind"
ok "state dir, runtime dirs and cgroups removed"

say "total $((SECONDS - T0))s"
echo "smoke: $PASSED passed, 0 failed"
