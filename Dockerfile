# goku in a container. Run it with the host's Docker socket and host networking, so its nginx
# can reach app containers on the bridge network and listen on the host's port 80:
#   docker build -t goku .
#   docker run -d --name goku --network host -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /var/lib/goku:/var/lib/goku goku
FROM node:20-bookworm-slim AS build
WORKDIR /opt/goku
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends git nginx-light libnginx-mod-stream openssh-client ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/goku
COPY --from=build /opt/goku/node_modules ./node_modules
COPY --from=build /opt/goku/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY hooks ./hooks
COPY templates ./templates
ENV GOKU_HOME=/var/lib/goku
VOLUME /var/lib/goku
EXPOSE 80 2222 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/goku/bin/goku"]
CMD ["server"]
