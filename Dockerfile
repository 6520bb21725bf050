# goku's own image. ./install.sh builds it (modes `dind`, the default, and `host`); by hand:
#   npm ci && npm run build          # dist/ and node_modules/ come from this checkout
#   docker build --build-arg BASE=node:20-bookworm-slim -t goku .
# BASE needs only Debian 12 and Node 20 (with npm). With no registry reachable, install.sh makes
# one from Debian's packages (debootstrap + docker import) with this machine's node and npm.
ARG BASE=node:20-bookworm-slim

# Production dependencies only, pruned from the checkout's node_modules (offline: nothing is
# downloaded, native addons stay as npm ci built them for this platform).
FROM ${BASE} AS modules
WORKDIR /opt/goku
COPY package.json package-lock.json ./
COPY node_modules ./node_modules
RUN npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM ${BASE}
# git (receive-pack), nginx (the proxy), OpenSSH's client, openssl (default certificates), and
# for Docker-in-Docker the engine itself (docker.io brings containerd, runc, iptables).
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
     git nginx-light libnginx-mod-stream openssh-client ca-certificates openssl procps \
     docker.io iptables \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/goku
COPY --from=modules /opt/goku/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY templates ./templates
COPY hooks ./hooks
COPY bin ./bin
COPY dist ./dist
ENV GOKU_HOME=/var/lib/goku PATH=/opt/goku/bin:$PATH
EXPOSE 80 443 2222 8080
STOPSIGNAL SIGTERM
# GOKU_CONTAINER_MODE: `host` (the host's engine through its socket) or `dind` (an engine of
# its own, started by the entrypoint). Run it with `docker run --init` (see install.sh).
ENTRYPOINT ["/opt/goku/bin/goku-container"]
