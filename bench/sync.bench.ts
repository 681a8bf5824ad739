// Benchmark of the sync hook over HTTP: `node bench/sync.bench.ts` (`npm run bench`).
//
// The server runs in this process (createApp on 127.0.0.1, logger silent); requests go over a
// keep-alive connection, one at a time, and are timed by the client (full round trip). Each size
// is compared with a bare JSON.parse + JSON.stringify round trip of the same body, measured in the
// same run: the hook cannot be faster than that, so the ratio says how much the hook adds.
//
// Requests have Metacontroller's exact shape (examples/sync-request.json) with realistic objects:
// labels, a kubectl last-applied-configuration annotation, managedFields, server-set fields.
// Exits non-zero only on errors (a non-200 answer or a wrong number of mirrors), never on timing.

import { once } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { pino } from "pino";
import { createApp } from "../hooks/app.ts";
import { loadConfig } from "../lib/config.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SIZES = [10, 100, 1000];
const TARGET = "feature-checkout-2417";
const SOURCE_NS = "develop";
/** Time spent on the measured hook requests of one size, roughly. */
const BUDGET_MS = 3000;
const MIN_ITERATIONS = 30;
const MAX_ITERATIONS = 5000;
const GOAL_RATIO = 3;

type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Request bodies. A seeded generator keeps bodies identical from run to run.

let seed = 0x2417;
function rand(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
const hex = (n: number) =>
  Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join("");
const uid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
const resourceVersion = () => String(100000 + Math.floor(rand() * 900000));
const timestamp = () =>
  `2026-${String(1 + Math.floor(rand() * 11)).padStart(2, "0")}-${String(1 + Math.floor(rand() * 27)).padStart(2, "0")}T${String(Math.floor(rand() * 24)).padStart(2, "0")}:${String(Math.floor(rand() * 60)).padStart(2, "0")}:00Z`;

const WORDS = ["api", "web", "auth", "billing", "search", "orders", "cart", "users", "media"];
const TIERS = ["backend", "frontend", "data", "edge"];

function managedFields(manager: string, fields: Json, time: string): Json[] {
  return [
    {
      manager,
      operation: "Update",
      apiVersion: "v1",
      time,
      fieldsType: "FieldsV1",
      fieldsV1: fields,
    },
  ];
}

function lastApplied(obj: Json): string {
  // What kubectl apply stores: the applied manifest, compact, with a trailing newline.
  return `${JSON.stringify(obj)}\n`;
}

function serviceSource(name: string, i: number): Json {
  const app = name;
  const labels: Record<string, string> = {
    "app.kubernetes.io/name": app,
    "app.kubernetes.io/instance": `${app}-${SOURCE_NS}`,
    "app.kubernetes.io/component": pick(TIERS),
    "app.kubernetes.io/part-of": "shop",
    "app.kubernetes.io/version": `1.${i % 20}.${i % 7}`,
    "helm.sh/chart": `${app}-0.${i % 30}.0`,
  };
  const portCount = 2 + (i % 2);
  const ports = [
    { name: "http", protocol: "TCP", port: 80, targetPort: 8080 },
    { name: "metrics", protocol: "TCP", port: 9090, targetPort: "metrics" },
    { name: "grpc", protocol: "TCP", port: 9000, targetPort: 9000 },
  ].slice(0, portCount);
  const selector = {
    "app.kubernetes.io/name": app,
    "app.kubernetes.io/instance": labels["app.kubernetes.io/instance"],
  };
  const applied = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: SOURCE_NS,
      labels,
      annotations: {
        "kube-external-sync.io/replicate-to": "feature-.*",
        "meta.helm.sh/release-name": app,
        "meta.helm.sh/release-namespace": SOURCE_NS,
        description: `The ${app} service of the shop: HTTP on port 80, Prometheus metrics on 9090 and gRPC on 9000 where enabled. Owned by team ${pick(WORDS)}; on-call rotation and escalation in the runbook at https://runbooks.example.com/shop/${app}. Changing its ports or selector breaks every feature namespace that mirrors it, so announce such changes in the platform channel first.`,
      },
    },
    spec: { type: "ClusterIP", selector, ports },
  };
  const ip = `10.96.${Math.floor(i / 250)}.${(i % 250) + 2}`;
  const created = timestamp();
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: SOURCE_NS,
      uid: uid(),
      resourceVersion: resourceVersion(),
      creationTimestamp: created,
      labels,
      annotations: {
        ...applied.metadata.annotations,
        "kubectl.kubernetes.io/last-applied-configuration": lastApplied(applied),
      },
      managedFields: managedFields(
        "kubectl-client-side-apply",
        {
          "f:metadata": {
            "f:annotations": { ".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {} },
            "f:labels": Object.fromEntries(Object.keys(labels).map((k) => [`f:${k}`, {}])),
          },
          "f:spec": {
            "f:internalTrafficPolicy": {},
            "f:ports": Object.fromEntries(
              ports.map((p) => [
                `k:{"port":${p.port},"protocol":"TCP"}`,
                { ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {} },
              ]),
            ),
            "f:selector": {},
            "f:sessionAffinity": {},
            "f:type": {},
          },
        },
        created,
      ),
    },
    spec: {
      ...applied.spec,
      clusterIP: ip,
      clusterIPs: [ip],
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      sessionAffinity: "None",
      internalTrafficPolicy: "Cluster",
    },
    status: { loadBalancer: {} },
  };
}

function ingressSource(name: string, i: number, backends: readonly string[]): Json {
  const ruleCount = 2 + (i % 3);
  const hosts = Array.from({ length: ruleCount }, (_, j) =>
    j === 0 ? `${name}.${SOURCE_NS}.example.com` : `${name}-${j}.${SOURCE_NS}.example.com`,
  );
  const rules = hosts.map((host, j) => ({
    host,
    http: {
      paths: [
        {
          path: j === 0 ? "/" : `/v${j}`,
          pathType: "Prefix",
          backend: { service: { name: pick(backends), port: { name: "http" } } },
        },
      ],
    },
  }));
  const labels = {
    "app.kubernetes.io/name": name,
    "app.kubernetes.io/instance": `${name}-${SOURCE_NS}`,
    "app.kubernetes.io/component": "ingress",
    "app.kubernetes.io/part-of": "shop",
    "app.kubernetes.io/version": `2.${i % 10}.0`,
    "helm.sh/chart": `${name}-1.${i % 9}.0`,
  };
  const applied = {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: {
      name,
      namespace: SOURCE_NS,
      labels,
      annotations: {
        "kube-external-sync.io/replicate-to": "feature-.*",
        "kube-external-sync.io/top-level-domain": "*.example.com",
        "kube-external-sync.io/tld-secret-name": "wildcard-example-com-tls",
        "traefik.ingress.kubernetes.io/router.middlewares": "shop-redirect-https@kubernetescrd",
      },
    },
    spec: {
      ingressClassName: "traefik",
      tls: [{ hosts, secretName: `${name}-${SOURCE_NS}-tls` }],
      rules,
    },
  };
  const created = timestamp();
  return {
    ...applied,
    metadata: {
      ...applied.metadata,
      uid: uid(),
      resourceVersion: resourceVersion(),
      generation: 1 + (i % 4),
      creationTimestamp: created,
      annotations: {
        ...applied.metadata.annotations,
        "kubectl.kubernetes.io/last-applied-configuration": lastApplied(applied),
      },
      managedFields: managedFields(
        "kubectl-client-side-apply",
        {
          "f:metadata": {
            "f:annotations": { ".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {} },
            "f:labels": Object.fromEntries(Object.keys(labels).map((k) => [`f:${k}`, {}])),
          },
          "f:spec": { "f:ingressClassName": {}, "f:rules": {}, "f:tls": {} },
        },
        created,
      ),
    },
    status: { loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } },
  };
}

/** A mirror as Metacontroller observes it in the target namespace (ours, in `attachments`). */
function observedMirror(source: Json, parentUid: string): Json {
  const meta = source.metadata as Json;
  const name = meta.name as string;
  const isService = source.kind === "Service";
  const labels = { ...(meta.labels as Record<string, string>) };
  delete labels["app.kubernetes.io/instance"];
  delete labels["helm.sh/chart"];
  labels["app.kubernetes.io/managed-by"] = "kube-external-sync";
  const spec = isService
    ? {
        type: "ExternalName",
        externalName: `${name}.${SOURCE_NS}.svc.cluster.local`,
        ports: (source.spec as Json).ports,
        sessionAffinity: "None",
      }
    : (source.spec as Json);
  return {
    apiVersion: source.apiVersion,
    kind: source.kind,
    metadata: {
      name,
      namespace: TARGET,
      uid: uid(),
      resourceVersion: resourceVersion(),
      creationTimestamp: timestamp(),
      labels,
      annotations: {
        "kube-external-sync.io/replicated-from": `${SOURCE_NS}/${name}`,
        "metacontroller.k8s.io/decorator-controller": "kube-external-sync",
        "metacontroller.k8s.io/last-applied-configuration": JSON.stringify({ spec }),
      },
      ownerReferences: [
        {
          apiVersion: "v1",
          kind: "Namespace",
          name: TARGET,
          uid: parentUid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec,
    status: { loadBalancer: {} },
  };
}

/** An object in the target namespace that is not ours (a developer's own deployment). */
function unmanaged(kind: "Service" | "Ingress", name: string, i: number): Json {
  const obj =
    kind === "Service"
      ? serviceSource(name, i)
      : ingressSource(name, i, ["local-web", "local-api"]);
  const meta = obj.metadata as Json;
  meta.namespace = TARGET;
  const annotations = { ...(meta.annotations as Record<string, string>) };
  delete annotations["kube-external-sync.io/replicate-to"];
  delete annotations["kube-external-sync.io/top-level-domain"];
  delete annotations["kube-external-sync.io/tld-secret-name"];
  meta.annotations = annotations;
  return obj;
}

interface Workload {
  body: string;
  /** Mirrors the answer must hold. */
  expected: number;
}

function buildRequest(sources: number): Workload {
  const example = JSON.parse(readExample()) as Json;
  const parentUid = uid();
  const namespace = {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: TARGET,
      uid: parentUid,
      resourceVersion: resourceVersion(),
      creationTimestamp: timestamp(),
      labels: {
        "kubernetes.io/metadata.name": TARGET,
        "kube-external-sync.io/branch": "true",
        "kube-external-sync.io/state": "Synced",
      },
    },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };

  const ingressCount = Math.max(1, Math.round(sources * 0.2));
  const serviceCount = sources - ingressCount;
  const serviceNames = Array.from(
    { length: serviceCount },
    (_, i) => `${WORDS[i % WORDS.length]}-${String(i).padStart(4, "0")}`,
  );
  const services = serviceNames.map((n, i) => serviceSource(n, i));
  const ingresses = Array.from({ length: ingressCount }, (_, i) =>
    ingressSource(`shop-${String(i).padStart(4, "0")}`, i, serviceNames),
  );

  const svcKey = "Service.v1";
  const ingKey = "Ingress.networking.k8s.io/v1";
  const related: Record<string, Record<string, Json>> = { [svcKey]: {}, [ingKey]: {} };
  const attachments: Record<string, Record<string, Json>> = { [svcKey]: {}, [ingKey]: {} };
  const add = (map: Record<string, Record<string, Json>>, key: string, obj: Json) => {
    const meta = obj.metadata as { namespace: string; name: string };
    (map[key] as Record<string, Json>)[`${meta.namespace}/${meta.name}`] = obj;
  };
  for (const s of services) add(related, svcKey, s);
  for (const g of ingresses) add(related, ingKey, g);

  // The target namespace: a few dozen objects. Mirrors from an earlier sync are ours (in
  // attachments, and in related since customize asks for the namespace itself); the rest are not.
  const oursServices = services.slice(0, Math.min(15, serviceCount));
  const oursIngresses = ingresses.slice(0, Math.min(4, ingressCount));
  for (const s of oursServices) {
    const m = observedMirror(s, parentUid);
    add(attachments, svcKey, m);
    add(related, svcKey, m);
  }
  for (const g of oursIngresses) {
    const m = observedMirror(g, parentUid);
    add(attachments, ingKey, m);
    add(related, ingKey, m);
  }
  // Unmanaged objects: most with their own names, two taking a source's name (conflicts).
  const conflicts = new Set<string>();
  for (let i = 0; i < 18; i++) add(related, svcKey, unmanaged("Service", `local-svc-${i}`, i));
  for (let i = 0; i < 4; i++) add(related, ingKey, unmanaged("Ingress", `local-ing-${i}`, i));
  for (const name of serviceNames.slice(oursServices.length, oursServices.length + 2)) {
    add(related, svcKey, unmanaged("Service", name, 7));
    conflicts.add(name);
  }

  const request = {
    controller: example.controller,
    object: namespace,
    attachments,
    related,
    finalizing: false,
  };
  return { body: JSON.stringify(request), expected: sources - conflicts.size };
}

let exampleText: string | undefined;
function readExample(): string {
  exampleText ??= readFileSync(`${ROOT}examples/sync-request.json`, "utf8");
  return exampleText;
}

// ---------------------------------------------------------------------------------------------
// Measurement.

/** Highest RSS seen since the last reset (per size), and over the whole run. */
let sizePeakRss = 0;
let overallPeakRss = 0;
const sampleRss = () => {
  const rss = process.memoryUsage.rss();
  if (rss > sizePeakRss) sizePeakRss = rss;
  if (rss > overallPeakRss) overallPeakRss = rss;
};

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

function post(
  port: number,
  agent: http.Agent,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path: "/sync",
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

interface Row {
  sources: number;
  bodyBytes: number;
  responseBytes: number;
  mirrors: number;
  iterations: number;
  hookP50: number;
  hookP99: number;
  baseP50: number;
  baseP99: number;
  ratio: number;
  peakRss: number;
}

function iterationsFor(perIterationMs: number, budgetMs: number): number {
  return Math.max(
    MIN_ITERATIONS,
    Math.min(MAX_ITERATIONS, Math.round(budgetMs / Math.max(perIterationMs, 0.001))),
  );
}

/** Hook and baseline alternate in this many rounds, so a burst of load elsewhere hits both. */
const ROUNDS = 5;

interface Measured {
  hook: number[];
  baseline: number[];
  responseBytes: number;
  mirrors: number;
}

async function measure(port: number, agent: http.Agent, work: Workload): Promise<Measured> {
  let responseBytes = 0;
  const hookOnce = async (): Promise<number> => {
    const t0 = performance.now();
    const res = await post(port, agent, work.body);
    const dt = performance.now() - t0;
    sampleRss();
    if (res.status !== 200)
      throw new Error(`sync answered ${res.status}: ${res.text.slice(0, 300)}`);
    responseBytes = Buffer.byteLength(res.text);
    return dt;
  };
  let sink = 0;
  const baselineOnce = (): number => {
    const t0 = performance.now();
    sink += JSON.stringify(JSON.parse(work.body)).length;
    return performance.now() - t0;
  };

  // The first answer is checked in full.
  const first = await post(port, agent, work.body);
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
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < Math.ceil(hookN / ROUNDS); i++) hook.push(await hookOnce());
    for (let i = 0; i < Math.ceil(baseN / ROUNDS); i++) baseline.push(baselineOnce());
  }
  if (sink === 0) throw new Error("unreachable");
  return { hook, baseline, responseBytes, mirrors };
}

const kb = (bytes: number) =>
  bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(2)} MB`
    : `${(bytes / 1024).toFixed(1)} kB`;
const ms = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1));

async function main(): Promise<void> {
  const config = loadConfig(`${ROOT}examples/config.yaml`);
  const { app } = createApp({
    config,
    logger: pino({ level: "silent" }),
    bodyLimit: "64mb",
    maxConcurrent: 16,
  });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  const rows: Row[] = [];
  try {
    for (const sources of SIZES) {
      const work = buildRequest(sources);
      sizePeakRss = 0;
      const m = await measure(port, agent, work);
      sampleRss();
      const h = m.hook.toSorted((a, b) => a - b);
      const b = m.baseline.toSorted((a, c) => a - c);
      const row: Row = {
        sources,
        bodyBytes: Buffer.byteLength(work.body),
        responseBytes: m.responseBytes,
        mirrors: m.mirrors,
        iterations: h.length,
        hookP50: percentile(h, 50),
        hookP99: percentile(h, 99),
        baseP50: percentile(b, 50),
        baseP99: percentile(b, 99),
        ratio: percentile(h, 50) / percentile(b, 50),
        peakRss: sizePeakRss,
      };
      rows.push(row);
      process.stderr.write(
        `  ${sources} sources done (${h.length} requests, ${b.length} baseline)\n`,
      );
    }
  } finally {
    agent.destroy();
    server.closeAllConnections();
    server.close();
  }

  const header = [
    "sources",
    "body",
    "answer",
    "mirrors",
    "N",
    "hook p50 ms",
    "hook p99 ms",
    "JSON p50 ms",
    "JSON p99 ms",
    "p50 ratio",
    "peak RSS",
  ];
  const table = rows.map((r) => [
    r.sources.toLocaleString("en"),
    kb(r.bodyBytes),
    kb(r.responseBytes),
    String(r.mirrors),
    String(r.iterations),
    ms(r.hookP50),
    ms(r.hookP99),
    ms(r.baseP50),
    ms(r.baseP99),
    `${r.ratio.toFixed(2)}x`,
    `${(r.peakRss / 1024 / 1024).toFixed(0)} MB`,
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...table.map((row) => (row[i] ?? "").length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  console.log(`sync hook over HTTP (keep-alive, sequential), node ${process.version}`);
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of table) console.log(line(r));
  sampleRss();
  console.log(
    `peak RSS (process.memoryUsage, sampled per request; server and client share the process): ${(overallPeakRss / 1024 / 1024).toFixed(0)} MB; ` +
      `OS maxRSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
  );
  const last = rows.find((r) => r.sources === 1000);
  const met = last !== undefined && last.ratio <= GOAL_RATIO;
  console.log(`goal: ratio <= ${GOAL_RATIO} at 1,000 sources: ${met ? "met" : "not met"}`);
}

main().catch((e: unknown) => {
  console.error(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
