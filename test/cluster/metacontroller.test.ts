// End to end: Metacontroller (built from source by build.ts) runs the package's DecoratorController
// against a real control plane, calling a real hook server process; the tests change sources and
// namespaces and wait (polling, with timeouts) for the mirrors Metacontroller applies.
//
// Every scenario has its own source namespace (listed in the hook's config) and its own target
// namespaces, so scenarios never see each other's objects. The last two scenarios (a Metacontroller
// restart, an idle cluster) look at the whole cluster once everything else has converged.
//
//   node test/run.ts "test/cluster/metacontroller.test.ts" --serial

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { before, describe, test } from "node:test";
import { Annotation, State } from "../../lib/constants.ts";
import { PIECE_CHARS } from "../../lib/json-pieces.ts";
import type { NamespaceStatus } from "../../lib/status.ts";
import * as build from "../support/builders.ts";
import { MANAGED_BY, REPLICATE_TO, SKIP } from "../support/builders.ts";
import { REPO_ROOT } from "./build.ts";
import { apiRequestCounts, type ControlPlane, requestsBetween, writesOf } from "./control-plane.ts";
import {
  applyExampleSources,
  type NamespaceOutputs,
  outputsSettle,
  parseStatus,
  sync,
} from "./hook-requests.ts";
import { type HookServer, hookCalls, startHookServer } from "./hook-server.ts";
import {
  buildSyncRequest,
  type Json,
  type KubeClient,
  type KubeObject,
  ownedBy,
  resourcePath,
} from "./kube.ts";
import { type Metacontroller, startMetacontroller } from "./metacontroller.ts";
import { mirroringSuite, SUITE_METACONTROLLER } from "./mirroring.ts";
import { API, isMirror, type Kind, pathOf, portOf } from "./objects.ts";
import { waitFor } from "./processes.ts";

/** Generous: a loaded 2-core machine runs the API server, etcd, Metacontroller and the hook. */
const CONVERGE_MS = 90_000;
const TEST_TIMEOUT = { timeout: 10 * 60_000 };

/** One source namespace per scenario; each is a source namespace in the hook's config. */
const SCENARIO_SOURCES = [
  "sel-src",
  "upd-src",
  "nar-src",
  "del-src",
  "con-src",
  "skp-src",
  "drf-src",
  "inv-src",
  "out-src",
  "nsd-src",
  "bulk-src",
  "big-src",
];

let client: KubeClient;
let cp: ControlPlane;
let hook: HookServer;
let metacontroller: Metacontroller;
let controller: KubeObject;
let configFile: string;

const { kubectl, create, patch, remove, getMaybe, mirrorIn, goneFrom } = mirroringSuite({
  sources: SCENARIO_SOURCES,
  convergeMs: CONVERGE_MS,
  started: (suite) => ({ cp, client, configFile, hook, metacontroller, controller } = suite),
  watch: () => [metacontroller.process],
});

// ---------------------------------------------------------------------------------------------
// Objects, from the shared builders (test/support/builders.ts), with what each scenario varies.

function createNamespace(
  name: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
): Promise<KubeObject> {
  return create(build.namespace(name, { labels, annotations }));
}

function sourceService(
  namespace: string,
  name: string,
  annotations: Record<string, string>,
  port?: number,
): Promise<KubeObject> {
  // The builder's default port is 80, to target port 8080; another port targets itself.
  const ports = port === undefined ? {} : { port };
  return create(build.service(name, { namespace, annotations, ...ports }));
}

function sourceIngress(
  namespace: string,
  name: string,
  annotations: Record<string, string>,
  host: string,
): Promise<KubeObject> {
  return create(build.ingress(name, { namespace, annotations, hosts: [host] }));
}

/** Waits until the namespace's state label, hosts and status annotations satisfy `ok`. */
function outputsIn(
  namespace: string,
  what: string,
  ok: (outputs: NamespaceOutputs) => boolean,
): Promise<NamespaceOutputs> {
  return outputsSettle(client, namespace, what, ok, CONVERGE_MS, [metacontroller.process]);
}

/** Waits until the namespace is Synced with nothing to list: no status annotation. */
function syncedWithNoStatus(namespace: string): Promise<NamespaceOutputs> {
  return outputsIn(
    namespace,
    "the state Synced and no status annotation",
    (o) => o.state === State.Synced && o.status === null,
  );
}

/**
 * Waits until the namespace's state label is `state` and its status annotation, which is there
 * whenever it lists something, satisfies `ok`. Returns the listing (empty when absent).
 */
async function stateIn(
  namespace: string,
  state: State,
  what: string,
  ok: (status: NamespaceStatus) => boolean = () => true,
): Promise<NamespaceStatus> {
  const outputs = await outputsIn(
    namespace,
    `the state ${state}, ${what}`,
    (o) => o.state === state && ok(parseStatus(o.status)),
  );
  return parseStatus(outputs.status);
}

/** `Kind/name` of the mirrors the status lists with `reason`. */
function listed(status: NamespaceStatus, reason: string): string[] {
  return [...status.skipped, ...status.invalid]
    .filter((i) => i.reason === reason)
    .map((i) => i.object)
    .sort();
}

function hostsOf(ingress: KubeObject): string[] {
  return ((ingress.spec as { rules?: { host?: string }[] }).rules ?? []).map((r) => r.host ?? "");
}

/** Every field of `want` is in `got` with the same value (arrays element by element). */
function assertContains(got: unknown, want: unknown, where: string): void {
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${where}: not a list`);
    assert.equal(got.length, want.length, `${where}: length`);
    want.forEach((w, i) => {
      assertContains(got[i], w, `${where}[${i}]`);
    });
  } else if (want !== null && typeof want === "object") {
    assert.ok(got !== null && typeof got === "object", `${where}: not an object`);
    for (const [k, w] of Object.entries(want)) {
      assertContains((got as Record<string, unknown>)[k], w, `${where}.${k}`);
    }
  } else {
    assert.equal(got, want, where);
  }
}

/**
 * The live mirror is what the hook asked for: same labels, the hook's annotations plus only
 * Metacontroller's own, every spec field the hook set, and owned by the namespace.
 */
function assertApplied(live: KubeObject, desired: KubeObject, namespaceUid: string): void {
  const id = `${desired.kind} ${desired.metadata.namespace}/${desired.metadata.name}`;
  assert.deepEqual(live.metadata.labels, desired.metadata.labels, `${id} labels`);
  const { ...annotations } = live.metadata.annotations ?? {};
  for (const key of Object.keys(annotations)) {
    if (key.startsWith("metacontroller.k8s.io/")) delete annotations[key];
  }
  assert.deepEqual(annotations, desired.metadata.annotations ?? {}, `${id} annotations`);
  assert.equal(
    live.metadata.annotations?.["metacontroller.k8s.io/decorator-controller"],
    "kube-external-sync",
  );
  assert.ok(ownedBy(live, namespaceUid), `${id} is owned by its namespace`);
  assertContains(live.spec, desired.spec, `${id} spec`);
}

async function syncErrorFor(namespace: string): Promise<true | undefined> {
  const selector = `involvedObject.kind=Namespace,involvedObject.name=${namespace},reason=SyncError`;
  const r = await client.request(
    "GET",
    `/api/v1/events?fieldSelector=${encodeURIComponent(selector)}`,
  );
  return r.status === 200 && ((r.body as { items?: unknown[] }).items ?? []).length > 0
    ? true
    : undefined;
}

/** Resolves once the hook has answered no sync call for `quietMs` (the cluster has converged). */
async function quiet(quietMs: number): Promise<number> {
  let last = await hookCalls(hook, "sync");
  let since = Date.now();
  return waitFor(`${quietMs / 1000}s without sync calls`, 5 * 60_000, async () => {
    const now = await hookCalls(hook, "sync");
    if (now !== last) {
      last = now;
      since = Date.now();
      return undefined;
    }
    return Date.now() - since >= quietMs ? now : undefined;
  });
}

/** The managed mirrors of the whole cluster, by kind/namespace/name, with resourceVersions. */
async function mirrorVersions(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const kind of ["Service", "Ingress"] as const) {
    const { apiVersion, resource } = API[kind];
    const p = `${resourcePath(apiVersion, resource)}?labelSelector=${encodeURIComponent(`${MANAGED_BY}=kube-external-sync`)}`;
    const r = await client.request("GET", p);
    assert.equal(r.status, 200);
    for (const o of (r.body as { items: KubeObject[] }).items) {
      out.set(
        `${kind} ${o.metadata.namespace}/${o.metadata.name}`,
        String(o.metadata.resourceVersion),
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe("Metacontroller applies the hook's answers", () => {
  before(() => {
    assert.ok(cp && hook && metacontroller, "setup ran");
  });

  test(
    "a namespace matching replicate-to gets the Service and Ingress mirrors exactly as the fixture and /sync specify",
    TEST_TIMEOUT,
    async () => {
      const applied = await applyExampleSources(cp);
      assert.equal(applied.code, 0, applied.stderr);
      const fixture = JSON.parse(
        await readFile(
          path.join(REPO_ROOT, "test", "fixtures", "sync", "example-sync-request.json"),
          "utf8",
        ),
      ) as { expect: { response: { attachments: KubeObject[] } } };
      const expected = fixture.expect.response.attachments;
      assert.equal(expected.length, 4);

      const live: KubeObject[] = [];
      for (const want of expected) {
        live.push(await mirrorIn(want.kind as Kind, "feature-login", want.metadata.name));
      }
      const ns = await client.get(resourcePath("v1", "namespaces", undefined, "feature-login"));
      const uid = ns.metadata.uid as string;
      expected.forEach((want, i) => {
        assertApplied(live[i] as KubeObject, want, uid);
      });

      // What the hook answers now, for the request Metacontroller would send (the mirrors among
      // the attachments), is what is applied, and what it writes on the namespace is there.
      const request = await buildSyncRequest(
        client,
        controller as unknown as Json,
        "feature-login",
        ["develop", "feature-login"],
      );
      assert.equal(Object.keys(request.attachments["Service.v1"] ?? {}).length, 3);
      const { answer, outputs } = await sync(hook, request);
      assert.equal(answer.attachments.length, 4);
      for (const desired of answer.attachments) {
        const got = live.find(
          (l) => l.kind === desired.kind && l.metadata.name === desired.metadata.name,
        );
        assert.ok(got, `${desired.kind} ${desired.metadata.name} is applied`);
        assertApplied(got, desired, uid);
      }
      // Every mirror is in place and nothing is reported: Synced, with the hosts and no status.
      assert.deepEqual(outputs, {
        state: State.Synced,
        hosts: "api.feature-login.example.com,feature-login.example.com",
        status: null,
      });
      await outputsIn(
        "feature-login",
        "what the hook answered",
        (o) => JSON.stringify(o) === JSON.stringify(outputs),
      );

      // checkout-redesign is selected by its label and skips example-api: listed, no problem.
      await mirrorIn("Service", "checkout-redesign", "postgres");
      await mirrorIn("Ingress", "checkout-redesign", "example");
      const redesign = await stateIn(
        "checkout-redesign",
        State.Synced,
        "example-api skipped",
        (s) => s.skipped.some((i) => i.reason === "Skipped" && i.object === "Service/example-api"),
      );
      assert.deepEqual(listed(redesign, "Skipped"), ["Service/example-api"]);
      assert.deepEqual(redesign.invalid, []);
      assert.equal(
        await getMaybe(pathOf("Service", "checkout-redesign", "example-api")),
        undefined,
      );
    },
  );

  test(
    "gaining the label (or annotation) a selector wants brings the mirror; losing it removes it",
    TEST_TIMEOUT,
    async () => {
      const key = "e2e.example.com/sel";
      await sourceService("sel-src", "by-label", {
        [Annotation.replicateToMatching]: `${key}=yes`,
      });
      await sourceService("sel-src", "by-annotation", {
        [Annotation.replicateToAnnotated]: `${key}=yes`,
      });
      // Targets sel-a by name: once its mirror is in place (the state Synced), sel-a was synced
      // without the label and the annotation, and got nothing else.
      await sourceService("sel-src", "by-name", { [REPLICATE_TO]: "sel-a" });
      await createNamespace("sel-a");
      await stateIn("sel-a", State.Synced, "its one mirror in place");
      assert.ok(isMirror(await getMaybe(pathOf("Service", "sel-a", "by-name"))));
      assert.equal(await getMaybe(pathOf("Service", "sel-a", "by-label")), undefined);
      assert.equal(await getMaybe(pathOf("Service", "sel-a", "by-annotation")), undefined);
      const nsPath = resourcePath("v1", "namespaces", undefined, "sel-a");

      await patch(nsPath, { metadata: { labels: { [key]: "yes" } } });
      await mirrorIn("Service", "sel-a", "by-label");
      await patch(nsPath, { metadata: { labels: { [key]: null } } });
      await goneFrom("Service", "sel-a", "by-label");

      await patch(nsPath, { metadata: { annotations: { [key]: "yes" } } });
      await mirrorIn("Service", "sel-a", "by-annotation");
      await patch(nsPath, { metadata: { annotations: { [key]: null } } });
      await goneFrom("Service", "sel-a", "by-annotation");
      assert.equal(await getMaybe(pathOf("Service", "sel-a", "by-label")), undefined);
    },
  );

  test(
    "a source Service's port change and a source Ingress's host change reach every mirror",
    TEST_TIMEOUT,
    async () => {
      const targets = ["upd-a", "upd-b"];
      await sourceService("upd-src", "api", { [REPLICATE_TO]: "upd-.*" });
      await sourceIngress(
        "upd-src",
        "web",
        { [REPLICATE_TO]: "upd-.*" },
        "app.upd-src.example.com",
      );
      for (const ns of targets) await createNamespace(ns);
      for (const ns of targets) {
        await mirrorIn("Service", ns, "api", (s) => portOf(s) === 80);
        await mirrorIn("Ingress", ns, "web", (i) => hostsOf(i)[0] === `app.${ns}.example.com`);
      }

      await patch(pathOf("Service", "upd-src", "api"), {
        spec: { ports: [{ name: "http", port: 81, targetPort: 8080, protocol: "TCP" }] },
      });
      await patch(pathOf("Ingress", "upd-src", "web"), {
        spec: build.ingress("web", { hosts: ["shop.upd-src.example.com"] }).spec,
      });
      for (const ns of targets) {
        const svc = await mirrorIn("Service", ns, "api", (s) => portOf(s) === 81);
        assert.equal((svc.spec as { ports: unknown[] }).ports.length, 1);
        const ing = await mirrorIn("Ingress", ns, "web", (i) =>
          hostsOf(i).includes(`shop.${ns}.example.com`),
        );
        assert.deepEqual(hostsOf(ing), [`shop.${ns}.example.com`]);
      }
    },
  );

  test(
    "narrowing replicate-to removes mirrors only where the source no longer applies",
    TEST_TIMEOUT,
    async () => {
      await sourceService("nar-src", "api", { [REPLICATE_TO]: "nar-a,nar-b" });
      await createNamespace("nar-a");
      await createNamespace("nar-b");
      const kept = await mirrorIn("Service", "nar-a", "api");
      await mirrorIn("Service", "nar-b", "api");

      await patch(pathOf("Service", "nar-src", "api"), {
        metadata: { annotations: { [REPLICATE_TO]: "nar-a" } },
      });
      await goneFrom("Service", "nar-b", "api");
      const still = await getMaybe(pathOf("Service", "nar-a", "api"));
      assert.ok(still);
      assert.equal(still.metadata.uid, kept.metadata.uid);
      assert.equal(still.metadata.resourceVersion, kept.metadata.resourceVersion, "not rewritten");
    },
  );

  test(
    "deleting a source, or its annotation, removes its mirrors everywhere",
    TEST_TIMEOUT,
    async () => {
      const targets = ["del-a", "del-b"];
      await sourceService("del-src", "deleted", { [REPLICATE_TO]: "del-.*" });
      await sourceService("del-src", "unannotated", { [REPLICATE_TO]: "del-.*" });
      for (const ns of targets) await createNamespace(ns);
      for (const ns of targets) {
        await mirrorIn("Service", ns, "deleted");
        await mirrorIn("Service", ns, "unannotated");
      }

      await remove(pathOf("Service", "del-src", "deleted"));
      for (const ns of targets) await goneFrom("Service", ns, "deleted");

      await patch(pathOf("Service", "del-src", "unannotated"), {
        metadata: { annotations: { [REPLICATE_TO]: null } },
      });
      for (const ns of targets) await goneFrom("Service", ns, "unannotated");
    },
  );

  test(
    "an unmanaged Service and Ingress of a mirror's name are left untouched and reported; once deleted, the mirrors appear",
    TEST_TIMEOUT,
    async () => {
      const selector = { [Annotation.replicateToMatching]: "e2e.example.com/con=yes" };
      await sourceService("con-src", "api", selector);
      await sourceIngress("con-src", "web", selector, "web.con-src.example.com");
      await createNamespace("con-a");
      const ownService = await create(build.service("api", { namespace: "con-a" }));
      const ownIngress = await create(
        build.ingress("web", { namespace: "con-a", hosts: ["own.con-a.example.com"] }),
      );

      await patch(resourcePath("v1", "namespaces", undefined, "con-a"), {
        metadata: { labels: { "e2e.example.com/con": "yes" } },
      });
      const status = await stateIn("con-a", State.Degraded, "two conflicts", (s) =>
        ["Service/api", "Ingress/web"].every((object) =>
          s.skipped.some((i) => i.reason === "Conflict" && i.object === object),
        ),
      );
      assert.deepEqual(listed(status, "Conflict"), ["Ingress/web", "Service/api"]);
      for (const own of [ownService, ownIngress]) {
        const kind = own.kind as Kind;
        const now = await getMaybe(pathOf(kind, "con-a", own.metadata.name));
        assert.ok(now);
        assert.equal(
          now.metadata.resourceVersion,
          own.metadata.resourceVersion,
          `${kind} untouched`,
        );
        assert.equal(isMirror(now), false);
      }

      await remove(pathOf("Service", "con-a", "api"));
      await remove(pathOf("Ingress", "con-a", "web"));
      await mirrorIn("Service", "con-a", "api");
      await mirrorIn("Ingress", "con-a", "web");
      // The conflicts are cleared: Synced, and the status annotation removed.
      await syncedWithNoStatus("con-a");
    },
  );

  test(
    "kube-external-sync.io/skip removes a mirror, after which kubectl create of the real Service succeeds and stays",
    TEST_TIMEOUT,
    async () => {
      await sourceService("skp-src", "api", { [REPLICATE_TO]: "skp-.*" });
      await sourceService("skp-src", "db", { [REPLICATE_TO]: "skp-.*" }, 5432);
      await createNamespace("skp-a");
      await mirrorIn("Service", "skp-a", "api");
      await mirrorIn("Service", "skp-a", "db");

      await patch(resourcePath("v1", "namespaces", undefined, "skp-a"), {
        metadata: { annotations: { [SKIP]: "api" } },
      });
      await goneFrom("Service", "skp-a", "api");
      const create = await kubectl(
        "create",
        "service",
        "clusterip",
        "api",
        "--tcp=80:8080",
        "-n",
        "skp-a",
      );
      assert.equal(create.code, 0, create.stderr);
      const own = await getMaybe(pathOf("Service", "skp-a", "api"));
      assert.ok(own && !isMirror(own));

      // A later sync of skp-a (the db source changed) leaves the real Service alone.
      await patch(pathOf("Service", "skp-src", "db"), {
        spec: { ports: [{ name: "http", port: 5433, targetPort: 8080, protocol: "TCP" }] },
      });
      await mirrorIn("Service", "skp-a", "db", (s) => portOf(s) === 5433);
      const after = await getMaybe(pathOf("Service", "skp-a", "api"));
      assert.equal(after?.metadata.uid, own.metadata.uid);
      assert.equal(after?.metadata.resourceVersion, own.metadata.resourceVersion);
      // The skip is listed, and is no problem: the namespace stays Synced.
      const status = await stateIn("skp-a", State.Synced, "api skipped", (s) =>
        s.skipped.some((i) => i.reason === "Skipped" && i.object === "Service/api"),
      );
      assert.deepEqual(listed(status, "Skipped"), ["Service/api"]);
      assert.deepEqual(status.invalid, []);
    },
  );

  test(
    "a mirror edited by hand (externalName, a port's fields, type) is reverted",
    TEST_TIMEOUT,
    async () => {
      await sourceService("drf-src", "api", { [REPLICATE_TO]: "drf-a" });
      await createNamespace("drf-a");
      const externalName = "api.drf-src.svc.cluster.local";
      const original = await mirrorIn("Service", "drf-a", "api");
      const mirrorPath = pathOf("Service", "drf-a", "api");
      const spec = (s: KubeObject) =>
        s.spec as {
          type: string;
          externalName?: string;
          ports: { port: number; name: string; targetPort: number }[];
        };
      const asOriginal = (s: KubeObject) =>
        spec(s).type === "ExternalName" &&
        spec(s).externalName === externalName &&
        spec(s).ports.length === 1 &&
        spec(s).ports[0]?.name === "http" &&
        spec(s).ports[0]?.targetPort === 8080 &&
        portOf(s) === 80;
      assert.ok(asOriginal(original));

      const edited = await patch(mirrorPath, { spec: { externalName: "evil.example.org" } });
      await mirrorIn(
        "Service",
        "drf-a",
        "api",
        (s) => asOriginal(s) && s.metadata.resourceVersion !== edited.metadata.resourceVersion,
      );

      // Metacontroller merges the ports list by port number: fields of port 80 are reverted. (A
      // port number changed by hand is a foreign entry to its merge and stays: see the README.)
      await patch(mirrorPath, {
        spec: { ports: [{ name: "edited", port: 80, targetPort: 9999, protocol: "TCP" }] },
      });
      await mirrorIn("Service", "drf-a", "api", asOriginal);

      await patch(mirrorPath, { spec: { type: "ClusterIP", externalName: null } });
      const reverted = await mirrorIn("Service", "drf-a", "api", asOriginal);
      assert.equal(reverted.metadata.uid, original.metadata.uid, "updated in place");
    },
  );

  test(
    "an invalid annotation keeps the source's mirrors byte for byte and is reported; fixing it resumes updates",
    TEST_TIMEOUT,
    async () => {
      await sourceService("inv-src", "api", { [REPLICATE_TO]: "inv-.*" });
      await createNamespace("inv-a");
      const before = await mirrorIn("Service", "inv-a", "api");

      // One change: a broken pattern and a new port. The port must not reach the mirror.
      await patch(pathOf("Service", "inv-src", "api"), {
        metadata: { annotations: { [REPLICATE_TO]: "inv-(" } },
        spec: { ports: [{ name: "http", port: 81, targetPort: 8080, protocol: "TCP" }] },
      });
      const status = await stateIn("inv-a", State.Degraded, "the invalid annotation", (s) =>
        s.invalid.some((i) => i.reason === "InvalidAnnotation" && i.source === "inv-src/api"),
      );
      assert.match(JSON.stringify(status.invalid), /inv-\(/);
      assert.deepEqual(await getMaybe(pathOf("Service", "inv-a", "api")), before);

      await patch(pathOf("Service", "inv-src", "api"), {
        metadata: { annotations: { [REPLICATE_TO]: "inv-.*" } },
      });
      await mirrorIn("Service", "inv-a", "api", (s) => portOf(s) === 81);
      await syncedWithNoStatus("inv-a");
    },
  );

  test(
    "the hook server killed while a source changes and a namespace is created deletes nothing; restarted, it converges",
    TEST_TIMEOUT,
    async () => {
      await sourceService("out-src", "api", { [REPLICATE_TO]: "out-.*" });
      await createNamespace("out-a");
      const before = await mirrorIn("Service", "out-a", "api", (s) => portOf(s) === 80);

      await hook.stop();
      try {
        await patch(pathOf("Service", "out-src", "api"), {
          spec: { ports: [{ name: "http", port: 81, targetPort: 8080, protocol: "TCP" }] },
        });
        await createNamespace("out-b");
        // Metacontroller tried both namespaces and failed (a SyncError event on each).
        for (const ns of ["out-a", "out-b"]) {
          await waitFor(`a SyncError event for ${ns}`, CONVERGE_MS, () => syncErrorFor(ns), [
            metacontroller.process,
          ]);
        }
        const during = await getMaybe(pathOf("Service", "out-a", "api"));
        assert.equal(during?.metadata.resourceVersion, before.metadata.resourceVersion);
        assert.equal(await getMaybe(pathOf("Service", "out-b", "api")), undefined);
      } finally {
        hook = await startHookServer({
          configFile,
          dir: cp.dir,
          port: hook.port,
        });
        cp.track(hook.process);
      }
      await mirrorIn("Service", "out-a", "api", (s) => portOf(s) === 81);
      await mirrorIn("Service", "out-b", "api", (s) => portOf(s) === 81);
    },
  );

  test("deleting a namespace completes and takes its mirrors with it", TEST_TIMEOUT, async () => {
    await sourceService("nsd-src", "api", { [REPLICATE_TO]: "nsd-.*" });
    await sourceIngress("nsd-src", "web", { [REPLICATE_TO]: "nsd-.*" }, "web.nsd-src.example.com");
    await createNamespace("nsd-a");
    await mirrorIn("Service", "nsd-a", "api");
    await mirrorIn("Ingress", "nsd-a", "web");

    await remove(resourcePath("v1", "namespaces", undefined, "nsd-a"));
    await waitFor("namespace nsd-a to be deleted", 3 * CONVERGE_MS, async () =>
      (await getMaybe(resourcePath("v1", "namespaces", undefined, "nsd-a"))) ? undefined : true,
    );
    assert.equal(await getMaybe(pathOf("Service", "nsd-a", "api")), undefined);
    assert.equal(await getMaybe(pathOf("Ingress", "nsd-a", "web")), undefined);
    // The sources are untouched.
    assert.ok(await getMaybe(pathOf("Service", "nsd-src", "api")));
  });

  test(
    "an answer too large for one piece is written in pieces and applied whole",
    TEST_TIMEOUT,
    async () => {
      // Each mirror copies a 1,000-character annotation: 150 of them make an answer of more than
      // 150 kB, which the hook writes in pieces of 64 kB (chunked), and Metacontroller must read whole.
      const note = "x".repeat(1000);
      const names = Array.from({ length: 150 }, (_, i) => `svc-${String(i).padStart(3, "0")}`);
      assert.ok(names.length * note.length > 2 * PIECE_CHARS, "the answer takes several pieces");
      for (const name of names) {
        await sourceService("big-src", name, {
          [REPLICATE_TO]: "big-.*",
          "example.com/note": note,
        });
      }
      await createNamespace("big-1");
      const mirrors = await waitFor(
        "150 Service mirrors in big-1",
        CONVERGE_MS,
        async () => {
          const r = await client.request("GET", pathOf("Service", "big-1"));
          const items = (r.body as { items: KubeObject[] }).items.filter(isMirror);
          return items.length === names.length ? items : undefined;
        },
        [metacontroller.process],
      );
      for (const mirror of mirrors)
        assert.equal(mirror.metadata.annotations?.["example.com/note"], note);
      assert.deepEqual(mirrors.map((m) => m.metadata.name).sort(), names);
    },
  );

  test("50 namespaces created at once all converge", TEST_TIMEOUT, async () => {
    await sourceService("bulk-src", "api", { [REPLICATE_TO]: "bulk-.*" });
    await sourceIngress(
      "bulk-src",
      "web",
      { [REPLICATE_TO]: "bulk-.*" },
      "web.bulk-src.example.com",
    );
    const names = Array.from({ length: 50 }, (_, i) => `bulk-${String(i).padStart(2, "0")}`);
    await Promise.all(names.map((n) => createNamespace(n)));
    await waitFor(
      "a Service and an Ingress mirror in each of the 50 namespaces",
      3 * CONVERGE_MS,
      async () => {
        const versions = await mirrorVersions();
        const missing = names.filter(
          (n) => !versions.has(`Service ${n}/api`) || !versions.has(`Ingress ${n}/web`),
        );
        return missing.length === 0 ? true : undefined;
      },
      [metacontroller.process],
    );
  });

  test(
    "a Metacontroller restart converges without writing to any mirror or namespace",
    TEST_TIMEOUT,
    async () => {
      await quiet(3_000);
      const versions = await mirrorVersions();
      assert.ok(versions.size > 100, `${versions.size} mirrors`);
      await metacontroller.stop();
      const namespaces = (
        (await client.get("/api/v1/namespaces")) as unknown as { items: unknown[] }
      ).items.length;
      const callsBefore = await hookCalls(hook, "sync");
      const countsBefore = await apiRequestCounts(cp);

      metacontroller = await startMetacontroller(cp, SUITE_METACONTROLLER);
      // Every namespace is synced again after the restart.
      await waitFor(
        `${namespaces} sync calls after the restart`,
        3 * CONVERGE_MS,
        async () =>
          (await hookCalls(hook, "sync")) - callsBefore >= namespaces ? true : undefined,
        [metacontroller.process],
      );
      await quiet(3_000);
      const writes = requestsBetween(countsBefore, await apiRequestCounts(cp));
      assert.equal(
        writesOf(writes, ["services", "ingresses.networking.k8s.io", "namespaces"]),
        0,
        JSON.stringify([...writes]),
      );
      assert.deepEqual(await mirrorVersions(), versions);
    },
  );

  test("an idle converged cluster makes no hook calls for 20 s", TEST_TIMEOUT, async () => {
    const calls = await quiet(3_000);
    const countsBefore = await apiRequestCounts(cp);
    const started = Date.now();
    // The state label and the annotations Metacontroller wrote must not trigger further syncs.
    const seen = await waitFor("20 s to pass, or a sync call", 60_000, async () => {
      const now = await hookCalls(hook, "sync");
      return now !== calls || Date.now() - started >= 20_000 ? now : undefined;
    });
    assert.equal(seen, calls, "sync calls in an idle cluster");
    const writes = requestsBetween(countsBefore, await apiRequestCounts(cp));
    assert.equal(
      writesOf(writes, ["services", "ingresses.networking.k8s.io", "namespaces"]),
      0,
      JSON.stringify([...writes]),
    );
  });
});
