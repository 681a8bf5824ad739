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
# glibc keeps freed memory for reuse and, by default, raises the size above which it gives memory
# back after the first large free: a request's body buffers (17 MB at 5,000 sources) would then
# stay in the process after it. Fixed at 4 MB, buffers of bodies up to about 1,000 sources are
# reused from request to request, and larger ones given back. `npm run bench` measured the
# 5,000-source peak RSS at 132-149 MB with this and 150-161 MB without (before the body's pieces
# were freed once filtered; 131-144 MB with this since); at 128 kB the peak is the same, but every
# request faults its buffers in anew (about 2.5 times the page faults, 10 ms more CPU per
# 1,000-source request).
ENV MALLOC_MMAP_THRESHOLD_=4194304
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
