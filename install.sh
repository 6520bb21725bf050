#!/usr/bin/env bash
# Installs goku on a fresh Debian 12 machine (as root) and starts it.
#   ./install.sh [dind]       goku in a container with a Docker engine of its own (the default)
#   ./install.sh host         goku in a container on this machine's Docker engine
#   ./install.sh native       goku on this machine (systemd, or in the background)
#   ./install.sh --deps-only  install and start only what goku and its tests need (used by .ci/run)
#   ./install.sh --image-only build goku's image (GOKU_IMAGE) and stop: for a swarm's GOKU_NGINX_IMAGE
#   ./install.sh --uninstall [--purge]   remove goku; --purge also removes every app and its data
# Safe to run again: it installs what is missing, starts what is not running, reuses the rest,
# and a second run upgrades goku in place (without an argument, in the mode it is installed in).
# Variables: GOKU_HOME, GOKU_* settings (or /etc/goku.env), GOKU_CONTAINER (the container's
# name, goku), GOKU_IMAGE (goku:latest), GOKU_BASE_IMAGE (skip making a base image: e.g.
# node:20-bookworm-slim from a registry), GOKU_BIN_LINK (/usr/local/bin/goku).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
ROOT=$(pwd)
DEPS_ONLY=0
IMAGE_ONLY=0
UNINSTALL=0
PURGE=0
MODE=
for arg in "$@"; do
  case "$arg" in
    dind | host | native) MODE=$arg ;;
    --deps-only) DEPS_ONLY=1 ;;
    --image-only) IMAGE_ONLY=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf 'error: unknown argument %s (see ./install.sh --help)\n' "$arg" >&2; exit 2 ;;
  esac
done
[ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ] && { echo "error: --purge goes with --uninstall" >&2; exit 2; }

say() { printf -- '-----> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Containers, images, networks and volumes of goku's apps on this machine's engine.
app_objects() {
  local kind=$1
  docker "$kind" ls -q --filter "label=goku.home=$GOKU_HOME" 2>/dev/null || true
}

# goku started in the background (no systemd): SIGTERM, then up to $2 tenths of a second for it
# to stop. $1 says why (Stopping, Restarting).
stop_background_goku() {
  local pidfile=$GOKU_HOME/goku.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "$1 goku (pid $(cat "$pidfile"))"
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 "$2"); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
  fi
}

# --uninstall: goku, its nginx and the command link go; apps are stopped and kept (with their
# data, images and GOKU_HOME) so that ./install.sh brings them back, unless --purge.
uninstall() {
  local mode=$MODE
  if docker container inspect "$NAME" >/dev/null 2>&1; then
    say "Stopping and removing goku's container $NAME"
    docker stop -t 60 "$NAME" >/dev/null || true
    docker rm -f "$NAME" >/dev/null || true
  fi
  if [ -f /etc/systemd/system/goku.service ] && [ "$mode" = native ]; then
    systemctl disable --now goku >/dev/null 2>&1 || true
    rm -f /etc/systemd/system/goku.service
    systemctl daemon-reload || true
  fi
  stop_background_goku Stopping 100
  rm -f "$GOKU_HOME/goku.pid"
  # nginx: host mode's masters are containers; native's are processes with pid files.
  local ids
  ids=$(docker ps -aq --filter "label=goku.nginx=$GOKU_HOME" 2>/dev/null || true)
  [ -n "$ids" ] && docker rm -f $ids >/dev/null
  for pidfile in "$GOKU_HOME/nginx/edge/nginx.pid" "$GOKU_HOME/nginx/nginx.pid"; do
    [ -f "$pidfile" ] && kill -QUIT "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [ "$PURGE" = 1 ]; then
    say "Removing every app, its images, networks and volumes, and $([ "$mode" = dind ] && echo "the volumes $NAME-home and $NAME-docker" || echo "$GOKU_HOME")"
    ids=$(docker ps -aq --filter "label=goku.home=$GOKU_HOME")
    [ -n "$ids" ] && docker rm -f -v $ids >/dev/null
    ids=$(docker images -q --filter "label=goku.home=$GOKU_HOME" | sort -u)
    [ -n "$ids" ] && docker rmi -f $ids >/dev/null 2>&1 || true
    for kind in network volume; do
      for n in $(app_objects "$kind"); do docker "$kind" rm "$n" >/dev/null 2>&1 || true; done
    done
    if [ "$mode" = dind ]; then docker volume rm "$NAME-home" "$NAME-docker" >/dev/null 2>&1 || true
    else rm -rf "$GOKU_HOME"; fi
  else
    ids=$(docker ps -q --filter "label=goku.home=$GOKU_HOME" 2>/dev/null || true)
    [ -n "$ids" ] && { say "Stopping the apps (kept: ./install.sh starts them again)"; docker stop $ids >/dev/null; }
  fi
  if [ -L "$BIN_LINK" ] || grep -q "written by goku's install.sh" "$BIN_LINK" 2>/dev/null; then rm -f "$BIN_LINK"; fi
  rm -f "$MODE_FILE"
  if [ "$PURGE" = 1 ]; then say "goku and its apps are removed"
  else say "goku is removed; apps and their data are kept (in $GOKU_HOME, and the volumes $NAME-home and $NAME-docker in dind mode): ./install.sh brings them back, ./install.sh --uninstall --purge removes them"; fi
}

[ "$(id -u)" = 0 ] || die "run install.sh as root (it installs Debian packages and starts dockerd)"

GOKU_HOME=${GOKU_HOME:-/var/lib/goku}
export GOKU_HOME
NAME=${GOKU_CONTAINER:-goku}
IMAGE=${GOKU_IMAGE:-goku:latest}
BIN_LINK=${GOKU_BIN_LINK:-/usr/local/bin/goku}
# Docker's rule for container names; the name also goes into the goku command's wrapper.
[[ "$NAME" =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$ ]] || die "GOKU_CONTAINER must be a container name (letters, digits, _ . -), not '$NAME'"
[[ "$IMAGE" =~ ^[a-z0-9][a-z0-9._/:-]{0,200}$ ]] || die "GOKU_IMAGE must be an image name such as goku:latest, not '$IMAGE'"
# The mode of the last install, so that a plain ./install.sh upgrades what is there.
MODE_FILE=${GOKU_MODE_FILE:-/etc/goku-install-mode}
INSTALLED=$(cat "$MODE_FILE" 2>/dev/null || true)
# An install made before there were modes was native: a unit file or a pid file says so.
if [ -z "$INSTALLED" ] && { [ -f /etc/systemd/system/goku.service ] || [ -f "$GOKU_HOME/goku.pid" ]; }; then INSTALLED=native; fi
[ -n "$MODE" ] || MODE=${INSTALLED:-dind}
if [ "$DEPS_ONLY" = 0 ] && [ "$UNINSTALL" = 0 ] && [ -n "$INSTALLED" ] && [ "$INSTALLED" != "$MODE" ]; then
  die "goku is installed in $INSTALLED mode; run ./install.sh --uninstall first, then ./install.sh $MODE"
fi

# Debian packages. Every mode: the Docker engine. Native: nginx, git, the OpenSSH client and
# openssl (the self-signed certificate HTTPS answers with for names without one); the container
# modes have those in goku's image, and debootstrap makes that image's base when no registry is
# at hand. The tests (--deps-only) need all of it, and busybox-static and wrk (the test apps and
# the benchmarks), docker-registry with htpasswd from apache2-utils (the image-app tests' real
# registry).
PKGS="docker.io ca-certificates procps"
NATIVE_PKGS="nginx-light libnginx-mod-stream git openssh-client openssl"
case "$MODE" in native) PKGS="$PKGS $NATIVE_PKGS" ;; *) [ -n "${GOKU_BASE_IMAGE:-}" ] || PKGS="$PKGS debootstrap" ;; esac
[ "$IMAGE_ONLY" = 1 ] && [ -z "${GOKU_BASE_IMAGE:-}" ] && PKGS="$PKGS debootstrap"
# The cluster tests make network namespaces with iproute2's ip.
# The dashboard's browser tests drive Debian's chromium (playwright-core never downloads one);
# a server that only runs goku does not need it.
# Debian's docker-compose (v1) is what the compose parser's tests check interpolation against.
# pebble (with pebble-challtestsrv) is the ACME CA the certificate tests get certificates from.
[ "$DEPS_ONLY" = 1 ] && PKGS="docker.io ca-certificates procps debootstrap iproute2 $NATIVE_PKGS busybox-static wrk docker-registry apache2-utils chromium fonts-dejavu-core docker-compose pebble"
[ "$UNINSTALL" = 1 ] && PKGS=""
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
FRESH_NGINX=0
case " $missing " in *" nginx-light "*) dpkg -s nginx >/dev/null 2>&1 || FRESH_NGINX=1 ;; esac
if [ -n "$missing" ]; then
  say "Installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "$FRESH_NGINX" = 1 ] && [ "${GOKU_NGINX:-managed}" = managed ]; then
  # goku runs its own nginx; the distribution's default site would take port 80 from it.
  if [ -d /run/systemd/system ]; then systemctl disable --now nginx >/dev/null 2>&1 || true
  else service nginx stop >/dev/null 2>&1 || true; fi
fi

# dockerd: systemd where it runs, otherwise in the background.
if ! docker version >/dev/null 2>&1; then
  say "Starting dockerd"
  if [ -d /run/systemd/system ]; then
    systemctl enable --now docker >/dev/null
  else
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
  docker version >/dev/null 2>&1 || die "dockerd did not start; see /var/log/dockerd.log"
fi

[ "$UNINSTALL" = 1 ] && { uninstall; exit 0; }

# Native and the image both run goku from this checkout's dist/ and node_modules/, built here.
command -v node >/dev/null || die "Node.js 20 or newer is needed (Debian 12 ships 18): install it, e.g. from NodeSource, then run ./install.sh again"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node.js 20 or newer is needed, found $(node --version)"

# Exactly the locked versions (.ci/lock-platforms.mjs keeps the lock whole for npm ci). A
# run after one that installed from the same package-lock.json skips npm ci (which deletes
# and reinstalls node_modules, 15 s here): the stamp is written only after npm ci succeeded.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.goku-package-lock.sha256
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
  say "Node dependencies already match package-lock.json"
else
  say "Installing node dependencies"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" >"$stamp"
fi
# dist/ is rebuilt unless the last build (npm run build writes the stamp) was of exactly these
# sources, tsconfig.json and lock file: an upgrade that changes nothing skips tsc (5 s here).
if [ -f dist/main.js ] && [ "$(cat dist/.goku-build.sha256 2>/dev/null)" = "$(npm run --silent build:stamp)" ]; then
  say "dist/ was built from these sources; not rebuilding"
else
  say "Building"
  npm run build --silent
fi

[ "$DEPS_ONLY" = 1 ] && { say "Dependencies ready"; exit 0; }

[ -f /etc/goku.env ] && { set -a; . /etc/goku.env; set +a; }

# goku in a container: the image, made from this checkout (see Dockerfile).
base_image() {
  if [ -n "${GOKU_BASE_IMAGE:-}" ]; then BASE=$GOKU_BASE_IMAGE; return; fi
  local tag rootfs m
  tag="goku/base:bookworm-node$(node -p process.versions.node)"
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    # No registry needed: Debian 12 from Debian's mirror, with this machine's node and npm.
    say "Making the base image $tag from Debian's packages (debootstrap, about a minute)"
    rootfs=$(mktemp -d /tmp/goku-rootfs-XXXXXX)
    if ! debootstrap --variant=minbase bookworm "$rootfs" "${GOKU_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$rootfs.log" 2>&1; then
      tail -n 5 "$rootfs.log" >&2
      for m in $(awk -v r="$rootfs" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m"; done
      rm -rf --one-file-system "$rootfs"
      die "debootstrap failed (log: $rootfs.log); or set GOKU_BASE_IMAGE to an image with Debian 12 and Node 20"
    fi
    cp "$(readlink -f "$(command -v node)")" "$rootfs/usr/local/bin/node"
    mkdir -p "$rootfs/usr/local/lib/node_modules"
    cp -a "$(npm root -g)/npm" "$rootfs/usr/local/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . | docker import - "$tag" >/dev/null
    rm -rf --one-file-system "$rootfs" "$rootfs.log"
  fi
  BASE=$tag
}

build_image() {
  base_image
  say "Building goku's image $IMAGE (from $BASE)"
  # (the classic builder warns on stderr that it is deprecated: only a failure is shown)
  if ! docker build -q --build-arg "BASE=$BASE" --label goku.image=1 -t "$IMAGE" "$ROOT" >/dev/null 2>"$GOKU_TMP/build.err"; then
    grep -v -e DEPRECATED -e buildx -e 'docs.docker.com' "$GOKU_TMP/build.err" | tail -n 20 >&2
    die "building goku's image failed (above)"
  fi
}

# Every GOKU_* setting of this environment (and /etc/goku.env) goes into the container, except
# what the mode sets itself.
settings_args() {
  local v
  for v in $(compgen -e | grep '^GOKU_' || true); do
    case "$v" in
      GOKU_HOME | GOKU_CONTAINER | GOKU_IMAGE | GOKU_BASE_IMAGE | GOKU_BIN_LINK | GOKU_MODE_FILE | GOKU_DEBIAN_MIRROR | GOKU_CONTAINER_MODE | GOKU_NGINX_IMAGE) ;;
      *) printf -- '-e\n%s\n' "$v" ;;
    esac
  done
}

# Replaces goku's container (an upgrade: the image was rebuilt, settings may have changed).
replace_container() {
  if docker container inspect "$NAME" >/dev/null 2>&1; then
    say "Replacing the running container $NAME"
    docker stop -t 60 "$NAME" >/dev/null || true
    docker rm -f "$NAME" >/dev/null
  fi
}

run_host() {
  mkdir -p "$GOKU_HOME"
  chmod 711 "$GOKU_HOME"
  local image_id
  image_id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
  replace_container
  say "Starting goku in the container $NAME (host mode: this machine's Docker engine and network)"
  # GOKU_HOME at the same path inside and out: paths goku hands the engine (bind mounts) are
  # host paths. --pid host: goku signals its nginx masters, which run as containers of their
  # own (GOKU_NGINX_IMAGE) so that replacing this one never interrupts app traffic.
  mapfile -t settings < <(settings_args)
  docker run -d --name "$NAME" --init --restart unless-stopped --stop-timeout 60 \
    --label goku.install=host --network host --pid host --cap-add SYS_PTRACE \
    -v /var/run/docker.sock:/var/run/docker.sock -v "$GOKU_HOME:$GOKU_HOME" \
    -e GOKU_CONTAINER_MODE=host -e "GOKU_HOME=$GOKU_HOME" -e "GOKU_NGINX_IMAGE=$image_id" \
    "${settings[@]}" "$IMAGE" >/dev/null
}

run_dind() {
  # An upgrade uses what worked last time (the label), without trying --privileged again.
  local privileges
  privileges=$(docker inspect -f '{{index .Config.Labels "goku.privileges"}}' "$NAME" 2>/dev/null || true)
  replace_container
  say "Starting goku in the container $NAME (dind mode: a Docker engine of its own; apps live inside it)"
  local publish=() p
  for p in "${GOKU_PROXY_HOST:-0.0.0.0}:${GOKU_PROXY_PORT:-80}" "${GOKU_SSH_HOST:-0.0.0.0}:${GOKU_SSH_PORT:-2222}" \
    "${GOKU_HTTP_HOST:-0.0.0.0}:${GOKU_HTTP_PORT:-8080}" "${GOKU_PROXY_HOST:-0.0.0.0}:${GOKU_HTTPS_PORT:-443}"; do
    [ "${p##*:}" = 0 ] || publish+=(-p "$p:${p##*:}")
  done
  mapfile -t settings < <(settings_args)
  local common=(--name "$NAME" --init --restart unless-stopped --stop-timeout 60 --label goku.install=dind
    -v "$NAME-home:/var/lib/goku" -v "$NAME-docker:/var/lib/docker" "${publish[@]}"
    "${settings[@]}" -e GOKU_CONTAINER_MODE=dind -e GOKU_HOME=/var/lib/goku
    -e GOKU_SSH_HOST=0.0.0.0 -e GOKU_HTTP_HOST=0.0.0.0 -e GOKU_PROXY_HOST=0.0.0.0)
  if [ "$privileges" != explicit ]; then
    if docker run -d --privileged --label goku.privileges=privileged "${common[@]}" "$IMAGE" >/dev/null 2>"$GOKU_TMP/run.err"; then
      return
    fi
    # Machines whose Docker lacks CAP_SYS_RESOURCE refuse --privileged ("unable to apply caps");
    # this set is what the inner engine needs, and the entrypoint makes /sys and cgroups writable.
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    say "--privileged was refused ($(head -n 1 "$GOKU_TMP/run.err" | cut -c1-160)); using an explicit set of capabilities instead"
  fi
  docker run -d --label goku.privileges=explicit --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
    --security-opt systempaths=unconfined --security-opt apparmor=unconfined \
    --device-cgroup-rule 'a *:* rwm' "${common[@]}" "$IMAGE" >/dev/null
}

# `goku COMMAND` on this machine: the command in goku's container.
link_container_cli() {
  mkdir -p "$(dirname "$BIN_LINK")"
  rm -f "$BIN_LINK"
  cat >"$BIN_LINK" <<WRAP
#!/bin/sh
# goku's command, run in goku's container $NAME (written by goku's install.sh).
if [ -t 0 ] && [ -t 1 ]; then exec docker exec -it $NAME goku "\$@"; fi
exec docker exec -i $NAME goku "\$@"
WRAP
  chmod 755 "$BIN_LINK"
}

# Runs a shell command where goku runs (its container, or here).
in_goku() {
  if [ "$MODE" = native ]; then sh -c "$1"; else docker exec "$NAME" sh -c "$1"; fi
}

run_native() {
  mkdir -p "$GOKU_HOME"
  chmod 700 "$GOKU_HOME"
  mkdir -p "$(dirname "$BIN_LINK")"
  ln -sfn "$ROOT/bin/goku" "$BIN_LINK"
  if [ -d /run/systemd/system ]; then
    say "Installing the goku systemd unit"
    cat > /etc/systemd/system/goku.service <<UNIT
[Unit]
Description=goku deployment server
After=docker.service network-online.target
Requires=docker.service

[Service]
Environment=GOKU_HOME=$GOKU_HOME
EnvironmentFile=-/etc/goku.env
ExecStart=$ROOT/bin/goku server
Restart=always
# nginx and the apps outlive the daemon: stop only goku itself.
KillMode=process

[Install]
WantedBy=multi-user.target
UNIT
    systemctl daemon-reload
    systemctl enable goku >/dev/null 2>&1
    systemctl restart goku
  else
    stop_background_goku Restarting 50
    say "Starting goku in the background (log: $GOKU_HOME/goku.log, readable by root only)"
    # The log names apps, keys and addresses: root's alone, like the journal would be.
    touch "$GOKU_HOME/goku.log"
    chmod 600 "$GOKU_HOME/goku.log"
    nohup "$ROOT/bin/goku" server >>"$GOKU_HOME/goku.log" 2>&1 &
    echo $! >"$GOKU_HOME/goku.pid"
  fi
}

# A bad setting stops here, before the running goku is touched (it keeps running as it was).
check_settings() {
  local check="import('$1/dist/settings.js').then((m) => m.readSettings()).catch((e) => { console.error(e.message); process.exit(1); })"
  local out
  if [ "$MODE" = native ]; then out=$(node -e "$check" 2>&1) || die "$out"
  else
    mapfile -t settings < <(settings_args)
    out=$(docker run --rm --network none --entrypoint node "${settings[@]}" "$IMAGE" -e "$check" 2>&1) || die "$out"
  fi
}

GOKU_TMP=$(mktemp -d /tmp/goku-install-XXXXXX)
trap 'rm -rf "$GOKU_TMP"' EXIT
[ "$IMAGE_ONLY" = 1 ] && { build_image; say "Built $IMAGE"; exit 0; }
case "$MODE" in
  native)
    FIRST_START=0
    [ -f "$GOKU_HOME/admin-token" ] || FIRST_START=1
    check_settings "$ROOT"
    run_native
    HOME_IN=$GOKU_HOME
    ;;
  host)
    FIRST_START=0
    [ -f "$GOKU_HOME/admin-token" ] || FIRST_START=1
    build_image
    check_settings /opt/goku
    run_host
    link_container_cli
    HOME_IN=$GOKU_HOME
    ;;
  dind)
    FIRST_START=0
    docker volume inspect "$NAME-home" >/dev/null 2>&1 || FIRST_START=1
    build_image
    check_settings /opt/goku
    run_dind
    link_container_cli
    HOME_IN=/var/lib/goku
    ;;
esac
echo "$MODE" >"$MODE_FILE"

# Up when its control socket is; a container that ended (a bad setting) says why at once.
crashed() {
  [ "$MODE" != native ] && [ "$(docker inspect -f '{{.State.Running}} {{.RestartCount}}' "$NAME" 2>/dev/null)" != "true 0" ]
}
for _ in $(seq 1 600); do
  in_goku "test -S '$HOME_IN/goku.sock'" 2>/dev/null && break
  crashed && break
  sleep 0.1
done
if ! in_goku "test -S '$HOME_IN/goku.sock'" 2>/dev/null; then
  if [ "$MODE" = native ]; then die "goku did not start; see $GOKU_HOME/goku.log (or journalctl -u goku)"; fi
  why=$(docker logs --tail 20 "$NAME" 2>&1 | grep '^error:' | tail -n 1)
  docker stop "$NAME" >/dev/null 2>&1 || true
  die "goku did not start in its container $NAME: ${why#error: }${why:+; }see docker logs $NAME"
fi

host=$(hostname -I 2>/dev/null | awk '{print $1}')
# The token is shown on this terminal once, when it was made; never in a log.
if [ "$FIRST_START" = 1 ]; then token=$(in_goku "cat '$HOME_IN/admin-token'")
elif [ "$MODE" = dind ]; then token="docker exec $NAME cat $HOME_IN/admin-token"
else token="in $GOKU_HOME/admin-token (root only)"; fi
cat <<NEXT

goku is running ($MODE mode).
  Admin token (HTTP API):  $token
  Add your key:            goku keys:add me --admin < ~/.ssh/id_ed25519.pub
                           (or from your laptop: cat ~/.ssh/id_ed25519.pub | ssh root@${host:-HOST} goku keys:add me --admin)
  Deploy an app:           git remote add goku ssh://git@${host:-HOST}:${GOKU_SSH_PORT:-2222}/myapp
                           git push goku master
  HTTPS certificates:      echo GOKU_ACME_EMAIL=you@example.com >> /etc/goku.env, then run ./install.sh again
NEXT
