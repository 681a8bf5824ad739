// Benchmark of the sync hook over HTTP: `node bench/sync.bench.ts` (`npm run bench`).
//
// For each size a fresh server runs as a child process (the compiled dist/hooks/server.js, with
// the Node flags and environment of the image's runtime stage), so its memory is its own: idle RSS
// is read once it is ready, peak RSS (VmHWM) after its requests. Requests go over one keep-alive
// connection, one at a time, timed by the client (full round trip: the body sent from bytes
// prepared once, the answer read to its end). Each size is compared with the JSON floor: a bare
// JSON.parse + JSON.stringify of the same body, measured in this process in the same run, in
// rounds alternating with the hook's, so the ratio says what the hook costs beyond reading and
// writing JSON of that size. Where the time goes: the HTTP floor (a bare node:http server started
// the same way, answering as many bytes: bench/http-floor.ts), the server's own time, stages
// (hooks/stages.ts) and GC pauses per request (from its /metrics), and, measured in this process on
// the same body in a warm loop, each stage as the server runs them: the filter that leaves out
// unread fields (lib/unread-fields.ts), JSON.parse of what is kept, request validation
// (lib/request.ts), the engine (lib/engine.ts), the answer written in pieces (lib/json-pieces.ts).
//
// Exits non-zero only on errors (a non-200 answer or a wrong number of mirrors), never on timing.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { STAGES, type Stage } from "../hooks/stages.ts";
import { loadConfig } from "../lib/config.ts";
import { computeSync } from "../lib/engine.ts";
import { jsonPieces } from "../lib/json-pieces.ts";
import { parseSyncRequest } from "../lib/request.ts";
import { UnreadFieldFilter } from "../lib/unread-fields.ts";
import { dockerfileStages, runtimeOf } from "../test/support/dockerfile.ts";
import {
  freePort,
  postJson,
  request,
  type ServerProcess,
  startServerProcess,
  waitReady,
} from "../test/support/net.ts";
import { buildRequest, type Workload } from "./workload.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const CONFIG_FILE = join(ROOT, "examples/config.yaml");
const SIZES = (process.env.BENCH_SIZES ?? "10,100,1000,5000").split(",").map(Number);
/** What the image runs: the compiled server (`npm run build`), not the TypeScript sources. */
const ENTRY = join(ROOT, "dist/hooks/server.js");
/** A bare node:http server answering as many bytes: the HTTP floor. */
const HTTP_FLOOR_ENTRY = join(ROOT, "bench/http-floor.ts");
/** Time spent on the measured hook requests of one size, roughly. */
const BUDGET_MS = 3000;
/** At least this many of each, so a p99 is not simply the slowest request of a short run. */
const MIN_ITERATIONS = 100;
const MAX_ITERATIONS = 5000;
/** Hook and baseline alternate in this many rounds, so a burst of load elsewhere hits both. */
const ROUNDS = 5;
/** The size of the chunks the stages are fed, as a socket delivers them. */
const CHUNK = 64 * 1024;

/** What the image runs (the Dockerfile's CMD and runtime ENV), so the bench measures that. */
const IMAGE = runtimeOf(dockerfileStages());
/** The Node flags of the image's CMD. */
const IMAGE_NODE_OPTIONS = IMAGE.argv.filter((arg) => arg.startsWith("--"));

// ---------------------------------------------------------------------------------------------
// The server process.

interface Server {
  port: number;
  child: ServerProcess;
  agent: http.Agent;
}

async function startServer(
  nodeArgs: readonly string[],
  entry = ENTRY,
  env: Record<string, string> = {},
): Promise<Server> {
  const port = await freePort();
  const child = startServerProcess(
    {
      ...IMAGE.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      CONFIG_FILE,
      BODY_LIMIT: "64mb",
      NODE_ENV: "production",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info",
      ...env,
    },
    nodeArgs,
    entry,
  );
  await waitReady(port, child);
  return { port, child, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) };
}

async function stopServer(server: Server): Promise<void> {
  server.agent.destroy();
  server.child.proc.kill("SIGTERM");
  await server.child.exit;
}

/** VmRSS (now) and VmHWM (peak since start) of a process, in bytes, from /proc. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rss: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024 };
}

/** CPU time (user + system) a process has used, in ms, from /proc (clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** What the server says it spent on sync requests so far (its /metrics), in seconds. */
interface ServerTotals {
  syncSeconds: number;
  /** Per stage of the answered syncs (kube_external_sync_hook_stage_seconds). */
  stageSeconds: Record<Stage, number>;
  syncs: number;
  /** Its garbage collections' pauses (prom-client's nodejs_gc_duration_seconds). */
  gcSeconds: number;
}

async function serverTotals(port: number): Promise<ServerTotals> {
  const { text } = await request(port, "/metrics");
  const sum = (pattern: RegExp) => {
    let total = 0;
    for (const match of text.matchAll(pattern)) total += Number(match[1]);
    return total;
  };
  return {
    syncSeconds: sum(/^kube_external_sync_hook_duration_seconds_sum\{hook="sync"\} (\S+)$/gm),
    stageSeconds: Object.fromEntries(
      STAGES.map((stage) => [
        stage,
        sum(
          new RegExp(
            `^kube_external_sync_hook_stage_seconds_sum\\{hook="sync",stage="${stage}"\\} (\\S+)$`,
            "gm",
          ),
        ),
      ]),
    ) as Record<Stage, number>,
    syncs: sum(/^kube_external_sync_hook_duration_seconds_count\{hook="sync"\} (\S+)$/gm),
    gcSeconds: sum(/^kube_external_sync_nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)$/gm),
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement.

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}
const sorted = (values: readonly number[]) => values.toSorted((a, b) => a - b);
const median = (values: readonly number[]) => percentile(sorted(values), 50);

function iterationsFor(perIterationMs: number, budgetMs: number): number {
  return Math.max(
    MIN_ITERATIONS,
    Math.min(MAX_ITERATIONS, Math.round(budgetMs / Math.max(perIterationMs, 0.001))),
  );
}

interface Measured {
  hook: number[];
  /** Server CPU time per measured request, ms: robust to other load on the machine. */
  serverCpu: number;
  /**
   * The server's own time per measured request, ms: from its hook middleware (headers read) to
   * the answer sent, so it includes receiving the body.
   */
  serverMs: number;
  /** Its garbage collections' pauses while the measured requests ran, per request, ms. */
  gcMs: number;
  /** Its time per request in each stage (hooks/stages.ts), ms. */
  serverStages: Record<Stage, number>;
  baseline: number[];
  responseBytes: number;
  mirrors: number;
}

async function measure(server: Server, work: Workload): Promise<Measured> {
  // The body is sent as bytes prepared once and the answer's bytes are only counted, as
  // Metacontroller holds its request as bytes: the client's own encoding and decoding (about 7 ms
  // at 1,000 sources) are not the hook's time.
  const body = Buffer.from(work.body);
  const send = (countOnly: boolean) =>
    postJson(server.port, "/sync", body, { agent: server.agent, countOnly });
  let responseBytes = 0;
  const hookOnce = async (): Promise<number> => {
    const t0 = performance.now();
    const reply = await send(true);
    const dt = performance.now() - t0;
    if (reply.status !== 200) throw new Error(`sync answered ${reply.status}`);
    responseBytes = reply.bytes;
    return dt;
  };
  let sink = 0;
  const baselineOnce = (): number => {
    const t0 = performance.now();
    sink += JSON.stringify(JSON.parse(work.body)).length;
    return performance.now() - t0;
  };

  // The first answer is checked in full.
  const first = await send(false);
  if (first.status !== 200)
    throw new Error(`sync answered ${first.status}: ${first.text.slice(0, 300)}`);
  const mirrors = (JSON.parse(first.text) as { attachments: unknown[] }).attachments.length;
  if (mirrors !== work.expected)
    throw new Error(`expected ${work.expected} mirrors, got ${mirrors}`);

  // Warm-up (JIT, connection), which also sizes the runs.
  const warmUp = async (step: () => number | Promise<number>, ms: number, max: number) => {
    const start = performance.now();
    let n = 0;
    while (n < 5 || (performance.now() - start < ms && n < max)) {
      await step();
      n++;
    }
    return (performance.now() - start) / n;
  };
  const hookN = iterationsFor(await warmUp(hookOnce, 500, 200), BUDGET_MS);
  const baseN = iterationsFor(await warmUp(baselineOnce, 300, 500), BUDGET_MS / 3);

  const hook: number[] = [];
  const baseline: number[] = [];
  const pid = server.child.proc.pid as number;
  const totalsBefore = await serverTotals(server.port);
  const cpuBefore = cpuMsOf(pid);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < Math.ceil(hookN / ROUNDS); i++) hook.push(await hookOnce());
    for (let i = 0; i < Math.ceil(baseN / ROUNDS); i++) baseline.push(baselineOnce());
  }
  const serverCpu = (cpuMsOf(pid) - cpuBefore) / hook.length;
  const totals = await serverTotals(server.port);
  const syncs = totals.syncs - totalsBefore.syncs;
  if (syncs !== hook.length) throw new Error(`the server counted ${syncs} of ${hook.length} syncs`);
  if (sink === 0) throw new Error("unreachable");
  return {
    hook,
    serverCpu,
    serverMs: ((totals.syncSeconds - totalsBefore.syncSeconds) * 1000) / syncs,
    gcMs: ((totals.gcSeconds - totalsBefore.gcSeconds) * 1000) / syncs,
    serverStages: Object.fromEntries(
      STAGES.map((stage) => [
        stage,
        ((totals.stageSeconds[stage] - totalsBefore.stageSeconds[stage]) * 1000) / syncs,
      ]),
    ) as Record<Stage, number>,
    baseline,
    responseBytes,
    mirrors,
  };
}

/**
 * p50 of the HTTP floor: the same body sent by the same client to a bare node:http server that
 * answers as many bytes (bench/http-floor.ts), started as the hook server is.
 */
async function httpFloorP50(
  work: Workload,
  answerBytes: number,
  nodeArgs: readonly string[],
  iterations: number,
): Promise<number> {
  const server = await startServer(nodeArgs, HTTP_FLOOR_ENTRY, {
    ANSWER_BYTES: String(answerBytes),
  });
  try {
    const body = Buffer.from(work.body);
    const once = async () => {
      const t0 = performance.now();
      const reply = await postJson(server.port, "/", body, {
        agent: server.agent,
        countOnly: true,
      });
      const dt = performance.now() - t0;
      if (reply.bytes !== answerBytes) throw new Error(`HTTP floor answered ${reply.bytes} bytes`);
      return dt;
    };
    for (let i = 0; i < 5; i++) await once();
    const times: number[] = [];
    for (let i = 0; i < iterations; i++) times.push(await once());
    return median(times);
  } finally {
    await stopServer(server);
  }
}

interface Stages {
  filter: number;
  parse: number;
  validation: number;
  engine: number;
  response: number;
}

/**
 * Medians of each stage of the hook, run in this process on the same body as the server runs
 * them: the body filtered in 64 kB chunks (lib/unread-fields.ts), the kept text parsed, the
 * request validated, the engine, the answer written in pieces (lib/json-pieces.ts).
 */
function stagesOf(work: Workload, iterations: number): Stages {
  const config = loadConfig(CONFIG_FILE);
  const body = Buffer.from(work.body);
  const times: Record<keyof Stages, number[]> = {
    filter: [],
    parse: [],
    validation: [],
    engine: [],
    response: [],
  };
  const timed = <T>(stage: keyof Stages, step: () => T): T => {
    const t0 = performance.now();
    const out = step();
    times[stage].push(performance.now() - t0);
    return out;
  };
  const filtered = () => {
    const filter = new UnreadFieldFilter(body.length);
    for (let at = 0; at < body.length; at += CHUNK) filter.write(body.subarray(at, at + CHUNK));
    return filter.finish().bytes.toString("latin1");
  };
  let sink = 0;
  for (let i = 0; i < iterations; i++) {
    const text = timed("filter", filtered);
    const parsed = timed("parse", () => JSON.parse(text) as unknown);
    const input = timed("validation", () => parseSyncRequest(parsed, config));
    const outcome = timed("engine", () => computeSync(input, config));
    timed("response", () => {
      for (const piece of jsonPieces(outcome.response)) sink += piece.length;
    });
  }
  if (sink === 0) throw new Error("unreachable");
  return {
    filter: median(times.filter),
    parse: median(times.parse),
    validation: median(times.validation),
    engine: median(times.engine),
    response: median(times.response),
  };
}

// ---------------------------------------------------------------------------------------------
// Report.

interface Row {
  sources: number;
  bodyBytes: number;
  responseBytes: number;
  mirrors: number;
  iterations: number;
  hookP50: number;
  hookP99: number;
  serverCpu: number;
  serverMs: number;
  serverStages: Record<Stage, number>;
  gcMs: number;
  httpP50: number;
  baseP50: number;
  baseP99: number;
  ratio: number;
  idleRss: number;
  peakRss: number;
  stages: Stages;
}

const size = (bytes: number) =>
  bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MB`
    : `${(bytes / 1024).toFixed(1)} kB`;
const ms = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1));
/** Memory in MiB (what /proc reports in kB, divided by 1,024 twice), as Kubernetes counts `Mi`. */
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  return [
    line(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

function report(
  rows: readonly Row[],
  nodeArgs: readonly string[],
  env: Record<string, string>,
): string {
  const timing = table(
    [
      "sources",
      "body",
      "answer",
      "mirrors",
      "N",
      "hook p50 ms",
      "hook p99 ms",
      "server CPU ms",
      "floor p50 ms",
      "floor p99 ms",
      "ratio",
      "idle RSS",
      "peak RSS",
    ],
    rows.map((r) => [
      r.sources.toLocaleString("en"),
      size(r.bodyBytes),
      size(r.responseBytes),
      String(r.mirrors),
      String(r.iterations),
      ms(r.hookP50),
      ms(r.hookP99),
      ms(r.serverCpu),
      ms(r.baseP50),
      ms(r.baseP99),
      `${r.ratio.toFixed(2)}x`,
      mib(r.idleRss),
      mib(r.peakRss),
    ]),
  );
  const server = table(
    ["sources", "HTTP alone p50 ms", "server ms", ...STAGES.map((st) => `${st} ms`), "GC ms"],
    rows.map((r) => [
      r.sources.toLocaleString("en"),
      ms(r.httpP50),
      ms(r.serverMs),
      ...STAGES.map((stage) => ms(r.serverStages[stage])),
      ms(r.gcMs),
    ]),
  );
  const loop = table(
    ["sources", "filter ms", "parse ms", "validation ms", "engine ms", "response ms", "sum ms"],
    rows.map((r) => {
      const { filter, parse, validation, engine, response } = r.stages;
      return [
        r.sources.toLocaleString("en"),
        ms(filter),
        ms(parse),
        ms(validation),
        ms(engine),
        ms(response),
        ms(filter + parse + validation + engine + response),
      ];
    }),
  );
  return [
    `sync hook over HTTP (keep-alive, sequential), node ${process.version}, server flags: ${nodeArgs.join(" ") || "(none)"}, image environment: ${Object.entries(
      env,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}`,
    "floor: JSON.parse + JSON.stringify of the same body in the bench process (its p99 is this machine's own tail for JSON of that size, beside the hook's); N: hook requests, at least 100 so p99 is not the slowest one; ratio: hook p50 / floor p50; server CPU: user+system time of the server per request (/proc, 10 ms ticks); RSS of the server (/proc VmRSS when ready, VmHWM after the run)",
    timing,
    "",
    "where the time goes in the server: HTTP alone, the p50 of a bare node:http server answering as many bytes (bench/http-floor.ts, same flags, same client); then the hook server's own time per request and its stages (hooks/stages.ts: body from the headers until read and filtered, parse, validation, engine, answer until handed to the connection) and its GC pauses, means from its /metrics:",
    server,
    "",
    "the same stages in a warm loop (medians in the bench process, same body):",
    loop,
  ].join("\n");
}

/** The hook server's figures for one size: its requests, then its memory. */
async function measureServer(
  work: Workload,
  nodeArgs: readonly string[],
): Promise<{ m: Measured; idleRss: number; peakRss: number }> {
  const server = await startServer(nodeArgs);
  try {
    const pid = server.child.proc.pid as number;
    const idleRss = memoryOf(pid).rss;
    const m = await measure(server, work);
    return { m, idleRss, peakRss: memoryOf(pid).peak };
  } finally {
    await stopServer(server);
  }
}

async function main(): Promise<void> {
  execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
  const nodeArgs =
    process.env.BENCH_NODE_OPTIONS?.split(/\s+/).filter(Boolean) ?? IMAGE_NODE_OPTIONS;
  const rows: Row[] = [];
  for (const sources of SIZES) {
    const work = buildRequest(sources);
    const { m, idleRss, peakRss } = await measureServer(work, nodeArgs);
    const hook = sorted(m.hook);
    const httpP50 = await httpFloorP50(work, m.responseBytes, nodeArgs, hook.length);
    const stages = stagesOf(work, Math.max(10, Math.min(200, Math.round(200_000 / sources))));
    rows.push({
      sources,
      bodyBytes: Buffer.byteLength(work.body),
      responseBytes: m.responseBytes,
      mirrors: m.mirrors,
      iterations: hook.length,
      hookP50: percentile(hook, 50),
      hookP99: percentile(hook, 99),
      serverCpu: m.serverCpu,
      serverMs: m.serverMs,
      serverStages: m.serverStages,
      gcMs: m.gcMs,
      httpP50,
      baseP50: median(m.baseline),
      baseP99: percentile(sorted(m.baseline), 99),
      ratio: percentile(hook, 50) / median(m.baseline),
      idleRss,
      peakRss,
      stages,
    });
    process.stderr.write(`  ${sources} sources done (${hook.length} requests)\n`);
  }
  console.log(report(rows, nodeArgs, IMAGE.env));
}

main().catch((e: unknown) => {
  console.error(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
