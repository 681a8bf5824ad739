# syntax=docker/dockerfile:1
# Build stage: compile TypeScript, then drop dev dependencies. test/image.test.ts runs these same
# RUN lines and the final CMD outside Docker, so keep them plain shell.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY hooks ./hooks
COPY lib ./lib
COPY cli ./cli
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

# Runtime: distroless Node 24, no shell, no package manager, non-root (uid 65532).
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production PORT=8080
# glibc returns every allocation over 128 kB to the system when it is freed. By default it raises
# that threshold after the first large free, and a request's body buffers (several MB at thousands
# of sources) then stay in the process after it: `npm run bench` measures 5,000-source peak RSS at
# 131-145 MB with this, 150-161 MB without.
ENV MALLOC_MMAP_THRESHOLD_=131072
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
EXPOSE 8080
# node is PID 1 here: hooks/server.ts handles SIGTERM itself (readiness off, drain, exit).
# The CLI is in the image too: `docker run --rm -v "$PWD:/work" IMAGE dist/cli/main.js check -f /work`.
# Heap flags, measured by `npm run bench` (which starts the server with them and this stage's ENV;
# README, Development): a 2 MB young generation keeps the 5,000-source peak RSS near 137 MB; 4, 8
# or 16 MB, or a faster-growing old generation, cut the 1,000-source p50 by 10-25 % but put that
# peak at 178-209 MB. The old generation is capped so that V8 collects before the Deployment's
# 512Mi memory limit is reached, not after.
CMD ["--max-semi-space-size=2", "--max-old-space-size=256", "dist/hooks/server.js"]
