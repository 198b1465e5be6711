# syntax=docker/dockerfile:1
# The user service (apps/user-service): UserService on grpc-js, plaintext gRPC on 50051, metrics on 9464.
# Build from the repository root:
#   docker build -f infra/docker/user-service.Dockerfile -t polyrpc/user-service:0.1.0 .
# The image runs as the numeric user 10001 and writes nothing outside /tmp and its data volume,
# so it runs with a read-only root filesystem.

# Node 24 LTS, by exact version (the project's .node-version): the same image for every stage.
ARG NODE_IMAGE=node:24.19.0-bookworm-slim

# 1. The workspace cut down to @polyrpc/user-service and the packages it imports: out/json holds the
#    package.json files and the pruned lockfile (the install layer), out/full the sources.
FROM ${NODE_IMAGE} AS prune
WORKDIR /repo
COPY . .
RUN npx --yes turbo@2.11.11 prune @polyrpc/user-service --docker

# 2. The build: every dependency (the compilers are dev dependencies), the JavaScript compiled into
#    each package's dist/, then node_modules installed again from scratch with production
#    dependencies only (from the store this stage already holds), so no dev dependency reaches the
#    image. Nothing compiles native code: better-sqlite3 ships its Node-API binaries in its package.
FROM ${NODE_IMAGE} AS build
ENV COREPACK_INTEGRITY_KEYS=0 \
  CI=true
WORKDIR /app
COPY --from=prune /repo/out/json/ ./
COPY .npmrc ./
RUN corepack enable && pnpm install --frozen-lockfile
COPY --from=prune /repo/out/full/ ./
COPY tsconfig.base.json ./
COPY scripts/build-package.mjs scripts/
RUN pnpm exec turbo run build --filter=@polyrpc/user-service... \
  && find . -name node_modules -type d -prune -exec rm -rf {} + \
  && pnpm install --frozen-lockfile --prod --offline

# 3. The runtime: Node, the compiled JavaScript and the production node_modules, owned by root and
#    read-only to the app. No TypeScript runs here.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
COPY --from=build /app /app
WORKDIR /app/apps/user-service
USER 10001:10001
EXPOSE 50051 9464
ENTRYPOINT ["node", "dist/main.js"]
