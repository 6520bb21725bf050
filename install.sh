#!/usr/bin/env bash
# Installs goku on a fresh Debian 12 machine (as root) and starts it.
#   ./install.sh              install everything, build, start `goku server`, print the next steps
#   ./install.sh --deps-only  install and start only what goku and its tests need (used by .ci/run)
# Safe to run again: it installs what is missing, starts what is not running, reuses the rest.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
ROOT=$(pwd)
DEPS_ONLY=0
[ "${1:-}" = "--deps-only" ] && DEPS_ONLY=1

say() { printf -- '-----> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run install.sh as root (it installs Debian packages and starts dockerd)"

# Debian packages: the Docker engine, nginx, git and the OpenSSH client; busybox-static and
# wrk build the test apps and drive the benchmarks; docker-registry (with htpasswd from
# apache2-utils) is the real registry the image-app tests push to.
# openssl makes the self-signed certificate HTTPS answers with for names without one.
PKGS="docker.io nginx-light libnginx-mod-stream git openssh-client busybox-static procps ca-certificates openssl wrk docker-registry apache2-utils"
# The dashboard's browser tests drive Debian's chromium (playwright-core never downloads one);
# a server that only runs goku does not need it.
# Debian's docker-compose (v1) is what the compose parser's tests check interpolation against.
# pebble (with pebble-challtestsrv) is the ACME CA the certificate tests get certificates from.
[ "$DEPS_ONLY" = 1 ] && PKGS="$PKGS chromium fonts-dejavu-core docker-compose pebble"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
FRESH_NGINX=0
dpkg -s nginx-light >/dev/null 2>&1 || dpkg -s nginx >/dev/null 2>&1 || FRESH_NGINX=1
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

command -v node >/dev/null || die "Node.js 20 or newer is needed (Debian 12 ships 18): install it, e.g. from NodeSource, then run ./install.sh again"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node.js 20 or newer is needed, found $(node --version)"

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

GOKU_HOME=${GOKU_HOME:-/var/lib/goku}
export GOKU_HOME
FIRST_START=0
[ -f "$GOKU_HOME/admin-token" ] || FIRST_START=1
mkdir -p "$GOKU_HOME"
chmod 700 "$GOKU_HOME"
ln -sf "$ROOT/bin/goku" /usr/local/bin/goku

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
  pidfile=$GOKU_HOME/goku.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "Restarting goku (pid $(cat "$pidfile"))"
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
  fi
  [ -f /etc/goku.env ] && { set -a; . /etc/goku.env; set +a; }
  say "Starting goku in the background (log: $GOKU_HOME/goku.log, readable by root only)"
  # The log names apps, keys and addresses: root's alone, like the journal would be.
  touch "$GOKU_HOME/goku.log"
  chmod 600 "$GOKU_HOME/goku.log"
  nohup "$ROOT/bin/goku" server >>"$GOKU_HOME/goku.log" 2>&1 &
  echo $! > "$pidfile"
fi

for _ in $(seq 1 100); do [ -S "$GOKU_HOME/goku.sock" ] && break; sleep 0.1; done
[ -S "$GOKU_HOME/goku.sock" ] || die "goku did not start; see $GOKU_HOME/goku.log (or journalctl -u goku)"

host=$(hostname -I 2>/dev/null | awk '{print $1}')
# The token is shown on this terminal once, when it was made; never in a log.
if [ "$FIRST_START" = 1 ]; then token=$(cat "$GOKU_HOME/admin-token")
else token="in $GOKU_HOME/admin-token (root only)"; fi
cat <<NEXT

goku is running.
  Admin token (HTTP API):  $token
  Add your key:            goku keys:add me --admin < ~/.ssh/id_ed25519.pub
                           (or from your laptop: cat ~/.ssh/id_ed25519.pub | ssh root@${host:-HOST} goku keys:add me --admin)
  Deploy an app:           git remote add goku ssh://git@${host:-HOST}:${GOKU_SSH_PORT:-2222}/myapp
                           git push goku master
  HTTPS certificates:      echo GOKU_ACME_EMAIL=you@example.com >> /etc/goku.env, then run ./install.sh again
NEXT
