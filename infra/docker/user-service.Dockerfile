# syntax=docker/dockerfile:1
# The user service (apps/user-service): UserService on grpc-js, plaintext gRPC on 50051, metrics on 9464.
# Build from the repository root:
#   docker build -f infra/docker/user-service.Dockerfile -t polyrpc/user-service:0.1.0 .
# The image runs as the numeric user 10001 and writes nothing outside /tmp and its data volume,
# so it runs with a read-only root filesystem.

# Node 20 (protoc-gen-es 2.13 and connect 2.1 pin it), by exact version: the same image for every stage.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# 1. The workspace cut down to @polyrpc/user-service and the packages it imports: out/json holds the
#    package.json files and the pruned lockfile (the install layer), out/full the sources.
FROM ${NODE_IMAGE} AS prune
WORKDIR /repo
COPY . .
RUN npx --yes turbo@2.11.11 prune @polyrpc/user-service --docker

# 2. Production dependencies. better-sqlite3 compiles from source against the image's own Node
#    headers (npm_config_nodedir), so this stage alone has python3, make and g++.
FROM ${NODE_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
ENV COREPACK_INTEGRITY_KEYS=0 \
  npm_config_nodedir=/usr/local \
  CI=true
WORKDIR /app
COPY --from=prune /repo/out/json/ ./
COPY .npmrc ./
RUN corepack enable && pnpm install --frozen-lockfile --prod
COPY --from=prune /repo/out/full/ ./

# 3. The runtime: Node, the sources and node_modules, owned by root and read-only to the app.
FROM ${NODE_IMAGE} AS runtime
# tsx compiles the TypeScript sources at start-up; TSX_DISABLE_CACHE keeps its cache in memory
# instead of /tmp/tsx-<uid>, so a read-only root filesystem is enough.
ENV NODE_ENV=production \
  TSX_DISABLE_CACHE=1
COPY --from=build /app /app
WORKDIR /app/apps/user-service
USER 10001:10001
EXPOSE 50051 9464
ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]
