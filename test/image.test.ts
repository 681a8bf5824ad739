// The container image, without a Docker engine: this test reads the Dockerfile, runs its build
// stage's COPY and RUN lines in a temporary directory, assembles the runtime stage from its
// COPY --from=build lines, and starts the runtime CMD the way the distroless image does (node as
// the entry point, a non-root uid, an application directory it cannot write). Then it probes the
// server and stops it with SIGTERM, as the kubelet would.

import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { dockerfileStages, runtimeOf } from "./support/dockerfile.ts";
import { freePort } from "./support/net.ts";

const ROOT = resolve(import.meta.dirname, "..");
const NONROOT_UID = 65532;

async function waitFor(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url);
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const stages = dockerfileStages();
let work = "";
let app = "";

before(
  () => {
    work = mkdtempSync(join(tmpdir(), "kes-image-"));
    const buildDir = join(work, "build");
    app = join(work, "app");
    mkdirSync(buildDir);
    mkdirSync(app);
    const build = stages.find((s) => s.name === "build");
    assert.ok(build, "Dockerfile has a stage named build");
    for (const { op, args } of build.steps) {
      if (op === "COPY") {
        const parts = args.split(/\s+/);
        const dest = parts.pop() ?? ".";
        for (const src of parts) {
          const target = dest.endsWith("/") ? join(buildDir, dest, src) : join(buildDir, dest);
          cpSync(join(ROOT, src), target, { recursive: true });
        }
      } else if (op === "RUN") {
        console.log(`# RUN ${args}`);
        execFileSync("sh", ["-c", args], { cwd: buildDir, stdio: ["ignore", "ignore", "inherit"] });
      }
    }
    const runtime = stages.at(-1);
    assert.ok(runtime && runtime !== build);
    for (const { op, args } of runtime.steps) {
      const m = /^--from=build\s+(\S+)\s+(\S+)$/.exec(args);
      // Paths under the build stage's WORKDIR (/app) map to the build directory.
      const src = (m?.[1] ?? "").replace(/^\/app\/?/, "");
      if (op === "COPY" && m)
        cpSync(join(buildDir, src), join(app, m[2] ?? ""), { recursive: true });
    }
    // As in the image: node outside the app directory, readable by the non-root user.
    const node = join(work, "nodejs", "bin", "node");
    mkdirSync(dirname(node), { recursive: true });
    cpSync(process.execPath, node);
    chmodSync(work, 0o755);
    execFileSync("chmod", ["-R", "a+rX,a-w", join(work, "nodejs"), app]);
  },
  { timeout: 300_000 },
);

after(() => {
  if (work) {
    execFileSync("chmod", ["-R", "u+w", work]);
    rmSync(work, { recursive: true, force: true });
  }
});

test("the runtime stage holds production dependencies only", () => {
  const modules = join(app, "node_modules");
  for (const dev of [
    "typescript",
    "@biomejs/biome",
    "fast-check",
    "@types/node",
    "@kubernetes/client-node",
  ]) {
    assert.equal(existsSync(join(modules, dev)), false, `${dev} must not be in the image`);
  }
  for (const prod of ["express", "zod", "js-yaml", "pino-http", "prom-client", "re2js"]) {
    assert.ok(existsSync(join(modules, prod)), `${prod} is in the image`);
  }
  assert.ok(existsSync(join(app, "dist", "hooks", "server.js")));
  assert.ok(existsSync(join(app, "dist", "cli", "main.js")));
  assert.equal(existsSync(join(app, "hooks")), false, "TypeScript sources are not in the image");
});

test("the image's CMD serves the hooks as a non-root user and stops on SIGTERM", {
  timeout: 60_000,
}, async () => {
  const { argv, env } = runtimeOf(stages);
  assert.ok(argv.length > 0, "Dockerfile has a CMD");
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const child = spawn(join(work, "nodejs", "bin", "node"), argv, {
    cwd: app,
    env: { ...env, PORT: String(port), HOST: "127.0.0.1", HOME: "/nonexistent" },
    stdio: ["ignore", "pipe", "pipe"],
    ...(asRoot ? { uid: NONROOT_UID, gid: NONROOT_UID } : {}),
  });
  let output = "";
  child.stdout.on("data", (d) => {
    output += d;
  });
  child.stderr.on("data", (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((ok) => child.on("exit", (code) => ok(code)));
  try {
    const ready = await waitFor(`http://127.0.0.1:${port}/readyz`, 15_000);
    assert.equal(ready.status, 200, output);
    const sync = await fetch(`http://127.0.0.1:${port}/sync`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: readFileSync(join(ROOT, "examples", "sync-request.json")),
    });
    assert.equal(sync.status, 200, output);
    const body = (await sync.json()) as { attachments: unknown[] };
    assert.equal(body.attachments.length, 4);
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, `server exits 0 after SIGTERM; output:\n${output}`);
  assert.match(output, /shutting down/);
});

test("the image runs the CLI: render and check of the examples, as a non-root user", () => {
  const asRoot = process.getuid?.() === 0;
  const run = (args: string[]) =>
    spawnSync(join(work, "nodejs", "bin", "node"), ["dist/cli/main.js", ...args], {
      cwd: app,
      encoding: "utf8",
      env: { HOME: "/nonexistent" },
      timeout: 30_000,
      ...(asRoot ? { uid: NONROOT_UID, gid: NONROOT_UID } : {}),
    });
  // The examples are read from outside the image's application directory, as from a mount.
  const examples = ["develop.yaml", "feature-namespaces.yaml"].flatMap((f) => [
    "-f",
    join(work, "examples", f),
  ]);
  cpSync(join(ROOT, "examples"), join(work, "examples"), { recursive: true });
  execFileSync("chmod", ["-R", "a+rX", join(work, "examples")]);
  const render = run(["render", ...examples, "--namespace", "feature-login", "-o", "json"]);
  assert.equal(render.status, 0, render.stderr);
  const list = JSON.parse(render.stdout) as { items: { kind: string }[] };
  assert.deepEqual(
    list.items.map((i) => i.kind),
    ["Ingress", "Service", "Service", "Service"],
  );
  const check = run(["check", ...examples]);
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stderr, /7 object\(s\) checked: 0 invalid/);
});
