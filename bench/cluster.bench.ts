// Convergence benchmark with Metacontroller in the loop: `npm run bench:cluster` (after
// `make cluster`; it builds what is missing).
//
// For each client QPS (Metacontroller's default 5, and 50) it starts a fresh local control plane,
// the hook server and Metacontroller (--client-go-qps=Q, --client-go-burst=2Q, --workers=5), with
// 3 Service sources and 1 Ingress source in `develop` replicated to `bench-.*`, and runs:
//
//   300 namespaces   created at once, each getting 3 Service mirrors and 1 Ingress mirror, then
//                    the state label Synced (with the hosts annotation) in one namespace write
//   new source       one more Service source, reaching all 300
//   port change      that source's port changed, reaching all 300
//   source deleted   that source deleted, its 300 mirrors removed
//   idle 60 s        nothing changes
//
// For each it prints the wall time until every mirror is in place (or gone), and for new namespaces
// also until every one is labelled Synced; the API writes made (from the API server's
// apiserver_request_total by verb and resource, read before and after, every response code),
// split into mirror writes (services, ingresses), namespace writes (Metacontroller's updates of the
// Namespace objects: the state label, the hosts and status annotations), event writes
// (Metacontroller's events) and the control plane's own writes (ServiceAccounts and ConfigMaps in
// new namespaces, leases), without the benchmark's own writes;
// the floor, which is the mirror writes the scenario needs at minimum (one per mirror created,
// updated or deleted) divided by the client QPS; and the ratio of the wall time to the floor.
// The product's goal is a ratio of at most 1.2. It exits non-zero only when a scenario does not
// converge, never on timing.
//
//   node bench/cluster.bench.ts [--qps 5,50] [--namespaces 300]

import { writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { dump } from "js-yaml";
import { ensureBinaries } from "../test/cluster/build.ts";
import {
  apiRequestCounts,
  type ControlPlane,
  type RequestCounts,
  requestsBetween,
  startControlPlane,
} from "../test/cluster/control-plane.ts";
import { type HookServer, startHookServer } from "../test/cluster/hook-server.ts";
import { KubeClient, type KubeObject, resourcePath } from "../test/cluster/kube.ts";
import {
  applyDecoratorController,
  loopbackDecoratorController,
  type Metacontroller,
  startMetacontroller,
} from "../test/cluster/metacontroller.ts";
import { waitFor } from "../test/cluster/processes.ts";
import * as build from "../test/support/builders.ts";

const { values } = parseArgs({
  options: {
    qps: { type: "string", default: "5,50" },
    namespaces: { type: "string", default: "300" },
  },
});
const QPS_LEVELS = (values.qps ?? "5,50").split(",").map(Number);
const NAMESPACES = Number(values.namespaces);
const IDLE_MS = 60_000;
const GOAL_RATIO = 1.2;
const SOURCE_NS = "develop";
const REPLICATE = { "kube-external-sync.io/replicate-to": "bench-.*" };
const MANAGED = "app.kubernetes.io/managed-by=kube-external-sync";
const NEW_SOURCE = "new-api";
const SYNCED = "kube-external-sync.io/state=Synced";

interface Row {
  qps: number;
  scenario: string;
  wallSeconds: number;
  /** New namespaces only: until every one is labelled Synced. */
  syncedSeconds?: number;
  mirrorWrites: number;
  namespaceWrites: number;
  eventWrites: number;
  controlPlaneWrites: number;
  /** Mirror writes the scenario needs at minimum. */
  minimalWrites: number;
}

// ---------------------------------------------------------------------------------------------

/** A source Service from the shared builders, as a client writes it. */
function service(name: string): KubeObject {
  return build.manifest(build.service(name, { namespace: SOURCE_NS, annotations: REPLICATE }));
}

const INGRESS: KubeObject = build.manifest(
  build.ingress("web", {
    namespace: SOURCE_NS,
    annotations: REPLICATE,
    hosts: ["web.develop.example.com"],
  }),
);

async function must(client: KubeClient, method: string, apiPath: string, body?: unknown) {
  const r = await client.request(
    method,
    apiPath,
    body,
    method === "PATCH" ? "application/merge-patch+json" : "application/json",
  );
  if (r.status >= 300)
    throw new Error(`${method} ${apiPath}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** Managed Services and Ingresses of the cluster (one list each). */
async function mirrors(client: KubeClient): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (const [apiVersion, resource] of [
    ["v1", "services"],
    ["networking.k8s.io/v1", "ingresses"],
  ] as const) {
    const r = await client.request(
      "GET",
      `${resourcePath(apiVersion, resource)}?labelSelector=${encodeURIComponent(MANAGED)}`,
    );
    if (r.status !== 200) throw new Error(`list ${resource}: ${r.status}`);
    out.push(...(r.body as { items: KubeObject[] }).items);
  }
  return out;
}

/** How many namespaces are labelled Synced. */
async function syncedNamespaces(client: KubeClient): Promise<number> {
  const r = await client.request(
    "GET",
    `/api/v1/namespaces?labelSelector=${encodeURIComponent(SYNCED)}`,
  );
  if (r.status !== 200) throw new Error(`list namespaces: ${r.status}`);
  return (r.body as { items: KubeObject[] }).items.length;
}

function countOf(items: KubeObject[], name: string, ok: (o: KubeObject) => boolean = () => true) {
  return items.filter((o) => o.metadata.name === name && ok(o)).length;
}

const portOf = (o: KubeObject) => (o.spec as { ports?: { port: number }[] }).ports?.[0]?.port;

/** Splits the API writes between two readings, minus the benchmark's own (`own`, by key). */
function splitWrites(before: RequestCounts, after: RequestCounts, own: Record<string, number>) {
  const delta = requestsBetween(before, after);
  let mirrorWrites = 0;
  let namespaceWrites = 0;
  let eventWrites = 0;
  let controlPlaneWrites = 0;
  for (const [key, count] of delta) {
    const [verb, resource] = key.split(" ");
    if (!["POST", "PUT", "PATCH", "DELETE", "APPLY"].includes(verb ?? "")) continue;
    const n = count - (own[key] ?? 0);
    if (resource === "services" || resource === "ingresses.networking.k8s.io") mirrorWrites += n;
    else if (resource === "namespaces") namespaceWrites += n;
    else if (resource === "events" || resource === "events.events.k8s.io") eventWrites += n;
    else controlPlaneWrites += n;
  }
  return { mirrorWrites, namespaceWrites, eventWrites, controlPlaneWrites };
}

/** One run of the scenarios: a control plane with Metacontroller at one client QPS. */
interface Run {
  cp: ControlPlane;
  client: KubeClient;
  metacontroller: Metacontroller;
  qps: number;
  rows: Row[];
}

interface Scenario {
  name: string;
  /** Mirror writes the scenario needs at minimum. */
  minimalWrites: number;
  /** The benchmark's own writes (by request key), not counted. */
  own: Record<string, number>;
  act: () => Promise<void>;
  /** Converged, given the managed objects of the cluster. */
  done: (items: KubeObject[]) => boolean;
  /** Also measured: the time until this many namespaces are labelled Synced. */
  syncedTarget?: number;
}

async function scenario(
  { cp, client, metacontroller, qps, rows }: Run,
  { name, minimalWrites, own, act, done, syncedTarget }: Scenario,
): Promise<void> {
  const before = await apiRequestCounts(cp);
  const started = performance.now();
  await act();
  await waitFor(
    `${name} to converge`,
    30 * 60_000,
    async () => (done(await mirrors(client)) ? true : undefined),
    [metacontroller.process],
  );
  const wallSeconds = (performance.now() - started) / 1000;
  let syncedSeconds: number | undefined;
  if (syncedTarget !== undefined) {
    await waitFor(
      `${syncedTarget} namespaces labelled Synced`,
      30 * 60_000,
      async () => ((await syncedNamespaces(client)) >= syncedTarget ? true : undefined),
      [metacontroller.process],
    );
    syncedSeconds = (performance.now() - started) / 1000;
  }
  // Writes still in flight (namespace labels after the last mirror) belong to the scenario.
  await settle(cp);
  const writes = splitWrites(before, await apiRequestCounts(cp), own);
  const row = { qps, scenario: name, wallSeconds, syncedSeconds, minimalWrites, ...writes };
  rows.push(row);
  console.log(`  ${formatRow(row)}`);
}

/** Waits until the API server has seen no write for 3 s. */
async function settle(cp: ControlPlane): Promise<void> {
  let last = -1;
  let since = Date.now();
  await waitFor("the writes to settle", 10 * 60_000, async () => {
    const counts = await apiRequestCounts(cp);
    let writes = 0;
    for (const [key, n] of counts)
      if (!key.startsWith("GET ") && !key.startsWith("LIST ") && !key.startsWith("WATCH "))
        writes += n;
    if (writes !== last) {
      last = writes;
      since = Date.now();
      return undefined;
    }
    return Date.now() - since >= 3_000 ? true : undefined;
  });
}

const syncedText = (r: Row) =>
  r.syncedSeconds === undefined ? "" : `${r.syncedSeconds.toFixed(1)} s`;

function formatRow(r: Row): string {
  const floor = r.minimalWrites / r.qps;
  const ratio = floor > 0 ? (r.wallSeconds / floor).toFixed(2) : "n/a";
  return [
    `QPS ${r.qps}`.padEnd(7),
    r.scenario.padEnd(16),
    `${r.wallSeconds.toFixed(1)} s`.padStart(9),
    `Synced ${syncedText(r) || "-"}`.padStart(15),
    `mirror ${r.mirrorWrites}`.padStart(12),
    `namespace ${r.namespaceWrites}`.padStart(14),
    `events ${r.eventWrites}`.padStart(10),
    `control plane ${r.controlPlaneWrites}`.padStart(18),
    `floor ${floor.toFixed(1)} s`.padStart(14),
    `ratio ${ratio}`.padStart(11),
  ].join(" ");
}

async function runAt(qps: number, rows: Row[]): Promise<void> {
  console.log(`==> client QPS ${qps} (burst ${qps * 2}, 5 workers), ${NAMESPACES} namespaces`);
  const cp = await startControlPlane({ log: (l) => console.log(l) });
  let hook: HookServer | undefined;
  let metacontroller: Metacontroller | undefined;
  try {
    const client = new KubeClient(cp);
    const configFile = path.join(cp.dir, "hook-config.yaml");
    await writeFile(configFile, dump({ sourceNamespaces: [SOURCE_NS] }));
    hook = await startHookServer({ configFile, dir: cp.dir });
    metacontroller = await startMetacontroller(cp, { qps, burst: qps * 2, workers: 5 });
    await applyDecoratorController(cp, await loopbackDecoratorController(cp, hook.url));
    await must(client, "POST", "/api/v1/namespaces", { metadata: { name: SOURCE_NS } });
    for (const name of ["api", "db", "cache"]) {
      await must(client, "POST", resourcePath("v1", "services", SOURCE_NS), service(name));
    }
    await must(
      client,
      "POST",
      resourcePath("networking.k8s.io/v1", "ingresses", SOURCE_NS),
      INGRESS,
    );
    await settle(cp);
    const mc = metacontroller;
    const names = Array.from(
      { length: NAMESPACES },
      (_, i) => `bench-${String(i).padStart(3, "0")}`,
    );

    const run: Run = { cp, client, metacontroller: mc, qps, rows };
    await scenario(run, {
      name: `${NAMESPACES} namespaces`,
      minimalWrites: NAMESPACES * 4,
      own: { "POST namespaces": NAMESPACES },
      act: async () => {
        await Promise.all(
          names.map((name) => must(client, "POST", "/api/v1/namespaces", { metadata: { name } })),
        );
      },
      done: (items) => ["api", "db", "cache", "web"].every((n) => countOf(items, n) === NAMESPACES),
      syncedTarget: NAMESPACES,
    });
    await scenario(run, {
      name: "new source",
      minimalWrites: NAMESPACES,
      own: { "POST services": 1 },
      act: () =>
        must(client, "POST", resourcePath("v1", "services", SOURCE_NS), service(NEW_SOURCE)),
      done: (items) => countOf(items, NEW_SOURCE) === NAMESPACES,
    });
    await scenario(run, {
      name: "port change",
      minimalWrites: NAMESPACES,
      own: { "PATCH services": 1 },
      act: () =>
        must(client, "PATCH", resourcePath("v1", "services", SOURCE_NS, NEW_SOURCE), {
          spec: { ports: [{ name: "http", port: 81, targetPort: 8080 }] },
        }),
      done: (items) => countOf(items, NEW_SOURCE, (o) => portOf(o) === 81) === NAMESPACES,
    });
    await scenario(run, {
      name: "source deleted",
      minimalWrites: NAMESPACES,
      own: { "DELETE services": 1 },
      act: () => must(client, "DELETE", resourcePath("v1", "services", SOURCE_NS, NEW_SOURCE)),
      done: (items) => countOf(items, NEW_SOURCE) === 0,
    });
    // Idle: the wall time is the window itself; any write at all is an extra.
    const before = await apiRequestCounts(cp);
    const started = Date.now();
    await waitFor(
      "the idle window",
      IDLE_MS + 60_000,
      async () => (Date.now() - started >= IDLE_MS ? true : undefined),
      [mc.process],
    );
    const writes = splitWrites(before, await apiRequestCounts(cp), {});
    const row = {
      qps,
      scenario: "idle 60 s",
      wallSeconds: IDLE_MS / 1000,
      minimalWrites: 0,
      ...writes,
    };
    rows.push(row);
    console.log(`  ${formatRow(row)}`);
  } finally {
    await metacontroller?.stop();
    await hook?.stop();
    await cp.stop();
  }
}

function markdownTable(rows: Row[]): string {
  const lines = [
    "| scenario | client QPS | wall time | all Synced | mirror writes | namespace writes | event writes | control-plane writes | floor | ratio |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const floor = r.minimalWrites / r.qps;
    const ratio = floor > 0 ? (r.wallSeconds / floor).toFixed(2) : "n/a";
    lines.push(
      `| ${r.scenario} | ${r.qps} | ${r.wallSeconds.toFixed(1)} s | ${syncedText(r)} | ${r.mirrorWrites} | ${r.namespaceWrites} | ${r.eventWrites} | ${r.controlPlaneWrites} | ${floor.toFixed(1)} s | ${ratio} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  await ensureBinaries();
  const rows: Row[] = [];
  for (const qps of QPS_LEVELS) await runAt(qps, rows);
  console.log(`\n${markdownTable(rows)}\n`);
  const over = rows.filter(
    (r) => r.minimalWrites > 0 && r.wallSeconds / (r.minimalWrites / r.qps) > GOAL_RATIO,
  );
  console.log(
    over.length === 0
      ? `every scenario within the goal ratio ${GOAL_RATIO}`
      : `${over.length} of ${rows.length} scenarios above the goal ratio ${GOAL_RATIO}: ${over.map((r) => `${r.scenario} at QPS ${r.qps}`).join(", ")}`,
  );
}

main().catch((e: unknown) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
