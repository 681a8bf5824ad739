// End to end: the namespace status (README, Status at a glance; docs/design.md, Status and
// reasons) as Metacontroller writes it from the hook's answers on a real control plane: the state
// label a pipeline waits for with `kubectl wait`, the hosts annotation, the status annotation, and
// how many namespace writes they cost.
//
// Every scenario has its own source namespace (listed in the hook's config) and its own target
// namespaces. The pipeline and skip scenarios use the examples' sources in `develop`. That an idle
// converged cluster makes no sync call and no namespace write is proven by metacontroller.test.ts.
//
//   node --test test/cluster/status.test.ts

import assert from "node:assert/strict";
import https from "node:https";
import { before, describe, test } from "node:test";
import { dump } from "js-yaml";
import { Annotation, Label, Reason, State } from "../../lib/constants.ts";
import type { StatusEntry } from "../../lib/status.ts";
import * as build from "../support/builders.ts";
import {
  apiRequestCounts,
  type ControlPlane,
  requestsBetween,
  runKubectl,
  writesOf,
} from "./control-plane.ts";
import { type HookServer, hookCalls } from "./hook-server.ts";
import { type KubeClient, type KubeObject, resourcePath } from "./kube.ts";
import type { Metacontroller } from "./metacontroller.ts";
import { mirroringSuite } from "./mirroring.ts";
import { isMirror, type Kind, pathOf, portOf } from "./objects.ts";
import { waitFor } from "./processes.ts";

/** Generous: a loaded 2-core machine runs the API server, etcd, Metacontroller and the hook. */
const CONVERGE_MS = 90_000;
const TEST_TIMEOUT = { timeout: 10 * 60_000 };
/** Source namespaces of the scenarios besides `develop`. */
const SCENARIO_SOURCES = ["one-src", "zw-src", "dg-src"];

/** What the examples' sources in develop give a branch namespace. */
const EXAMPLE_MIRRORS: [Kind, string][] = [
  ["Service", "example-api"],
  ["Service", "example-web"],
  ["Service", "postgres"],
  ["Ingress", "example"],
];

let cp: ControlPlane;
let client: KubeClient;
let hook: HookServer;
let metacontroller: Metacontroller;

const { kubectl, create, patch, remove, getMaybe, mirrorIn, goneFrom } = mirroringSuite({
  sources: SCENARIO_SOURCES,
  convergeMs: CONVERGE_MS,
  started: (suite) => ({ cp, client, hook, metacontroller } = suite),
  watch: () => [metacontroller.process],
});

// ---------------------------------------------------------------------------------------------
// Objects, from the shared builders (test/support/builders.ts). A source targets the branches of
// its own scenario: `dg-src` mirrors into `dg-*`.

const namespacePath = (name: string) => resourcePath("v1", "namespaces", undefined, name);

const toScenario = (namespace: string) => ({
  [Annotation.replicateTo]: `${namespace.split("-")[0]}-.*`,
});

function createNamespace(name: string): Promise<KubeObject> {
  return create(build.namespace(name));
}

function sourceService(namespace: string, name: string, port?: number): Promise<KubeObject> {
  // The builder's default port is 80, to target port 8080; another port targets itself.
  const ports = port === undefined ? {} : { port };
  return create(build.service(name, { namespace, annotations: toScenario(namespace), ...ports }));
}

/** An Ingress source serving `host` (in the source namespace's domain). */
function sourceIngress(namespace: string, name: string, host: string): Promise<KubeObject> {
  const annotations = toScenario(namespace);
  return create(build.ingress(name, { namespace, annotations, hosts: [host] }));
}

const stateOf = (ns: KubeObject) => ns.metadata.labels?.[Label.state];

interface WrittenStatus {
  skipped: StatusEntry[];
  invalid: StatusEntry[];
  omitted?: number;
}

function statusOf(ns: KubeObject): WrittenStatus | undefined {
  const text = ns.metadata.annotations?.[Annotation.status];
  return text === undefined ? undefined : (JSON.parse(text) as WrittenStatus);
}

/** Waits until the namespace satisfies `ok` (its state label, annotations). */
function namespaceWhen(
  name: string,
  what: string,
  ok: (ns: KubeObject) => boolean,
): Promise<KubeObject> {
  return waitFor(
    `namespace ${name} to be ${what}`,
    CONVERGE_MS,
    async () => {
      const ns = await getMaybe(namespacePath(name));
      return ns && ok(ns) ? ns : undefined;
    },
    [metacontroller.process],
  );
}

/** `kubectl wait` for the state label, exactly as the README's pipeline runs it. */
function kubectlWaitSynced(name: string) {
  return kubectl(
    "wait",
    `ns/${name}`,
    `--for=jsonpath={.metadata.labels.kube-external-sync\\.io/state}=${State.Synced}`,
    `--timeout=${CONVERGE_MS / 1000}s`,
  );
}

/** Resolves once the hook has answered no sync call for `quietMs` (the cluster has converged). */
async function quiet(quietMs: number): Promise<void> {
  let last = await hookCalls(hook, "sync");
  let since = Date.now();
  await waitFor(`${quietMs / 1000}s without sync calls`, 5 * 60_000, async () => {
    const now = await hookCalls(hook, "sync");
    if (now !== last) {
      last = now;
      since = Date.now();
      return undefined;
    }
    return Date.now() - since >= quietMs ? true : undefined;
  });
}

interface WatchEvent {
  type: string;
  object: KubeObject;
}

/**
 * Watches one namespace from `resourceVersion` on: every change after it (each successful write
 * is one MODIFIED event), until stop().
 */
function watchNamespace(name: string, resourceVersion: string) {
  const events: WatchEvent[] = [];
  const query = new URLSearchParams({
    watch: "1",
    fieldSelector: `metadata.name=${name}`,
    resourceVersion,
  });
  let buffered = "";
  const req = https.get(
    new URL(`/api/v1/namespaces?${query}`, cp.server),
    { ca: cp.ca, headers: { authorization: `Bearer ${cp.token}` } },
    (res) => {
      assert.equal(res.statusCode, 200, `watch of namespace ${name}`);
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffered += chunk;
        for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
          const line = buffered.slice(0, end).trim();
          buffered = buffered.slice(end + 1);
          if (line) events.push(JSON.parse(line) as WatchEvent);
        }
      });
    },
  );
  req.on("error", () => {
    // destroyed by stop()
  });
  return { events, stop: () => req.destroy() };
}

/** True when a managedFields entry of `manager` (an update) owns the state label. */
function stateLabelWrittenBy(ns: KubeObject, manager: RegExp): boolean {
  const entries = (ns.metadata.managedFields ?? []) as {
    manager?: string;
    operation?: string;
    fieldsV1?: { "f:metadata"?: { "f:labels"?: Record<string, unknown> } };
  }[];
  return entries.some(
    (e) =>
      manager.test(e.manager ?? "") &&
      e.operation === "Update" &&
      e.fieldsV1?.["f:metadata"]?.["f:labels"]?.[`f:${Label.state}`] !== undefined,
  );
}

// ---------------------------------------------------------------------------------------------

describe("the namespace status Metacontroller writes from the hook's answers", () => {
  before(() => {
    assert.ok(cp && hook && metacontroller, "setup ran");
  });

  test(
    "pipeline: kubectl wait for Synced returns once every mirror is in place, with the sorted hosts and no status",
    TEST_TIMEOUT,
    async () => {
      const applied = await kubectl("apply", "-f", "examples/develop.yaml");
      assert.equal(applied.code, 0, applied.stderr);
      // Step 1 of the README's pipeline: feature-x matches the sources' replicate-to feature-.*.
      const createdNs = await runKubectl(
        cp,
        ["apply", "-f", "-"],
        dump({ apiVersion: "v1", kind: "Namespace", metadata: { name: "feature-x" } }),
      );
      assert.equal(createdNs.code, 0, createdNs.stderr);
      // Step 2: the label is absent now (the mirrors do not exist yet); kubectl keeps waiting.
      const waited = await kubectlWaitSynced("feature-x");
      assert.equal(waited.code, 0, `kubectl wait: ${waited.stdout}${waited.stderr}`);
      assert.match(waited.stdout, /namespace\/feature-x condition met/);

      // Right after it, with no further wait: every mirror is there.
      for (const [kind, name] of EXAMPLE_MIRRORS) {
        const mirror = await getMaybe(pathOf(kind, "feature-x", name));
        assert.ok(isMirror(mirror), `${kind} feature-x/${name} is in place when Synced`);
      }
      const ns = await client.get(namespacePath("feature-x"));
      assert.equal(stateOf(ns), State.Synced);
      assert.equal(
        ns.metadata.annotations?.[Annotation.hosts],
        "api.feature-x.example.com,feature-x.example.com",
      );
      assert.equal(statusOf(ns), undefined, "no status annotation when nothing needs a person");
    },
  );

  test(
    "skip: a namespace created with skip=example-api reaches Synced and its status lists the skip",
    TEST_TIMEOUT,
    async () => {
      // Step 1 of the README's pipeline as written: targeting label and skip in one step.
      const createdNs = await runKubectl(
        cp,
        ["apply", "-f", "-"],
        dump({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: {
            name: "branch-skip",
            labels: { "kube-external-sync.io/branch": "true" },
            annotations: { [Annotation.skip]: "example-api" },
          },
        }),
      );
      assert.equal(createdNs.code, 0, createdNs.stderr);
      const waited = await kubectlWaitSynced("branch-skip");
      assert.equal(waited.code, 0, `kubectl wait: ${waited.stdout}${waited.stderr}`);

      for (const [kind, name] of EXAMPLE_MIRRORS.filter(([, n]) => n !== "example-api")) {
        assert.ok(isMirror(await getMaybe(pathOf(kind, "branch-skip", name))), name);
      }
      assert.equal(await getMaybe(pathOf("Service", "branch-skip", "example-api")), undefined);
      const ns = await client.get(namespacePath("branch-skip"));
      assert.equal(
        ns.metadata.annotations?.[Annotation.hosts],
        "api.branch-skip.example.com,branch-skip.example.com",
      );
      const status = statusOf(ns);
      assert.ok(status, "the skip is listed");
      assert.deepEqual(
        status.skipped.map((e) => [e.reason, e.object, e.source]),
        [[Reason.Skipped, "Service/example-api", "develop/example-api"]],
      );
      assert.deepEqual(status.invalid, []);
    },
  );

  test(
    "a new namespace costs one namespace write: Metacontroller's update with the Synced label and the hosts",
    TEST_TIMEOUT,
    async () => {
      await sourceService("one-src", "api");
      await sourceIngress("one-src", "web", "web.one-src.example.com");
      await quiet(3_000);
      const countsBefore = await apiRequestCounts(cp, { successOnly: true });
      const ns = await createNamespace("one-a");
      const watch = watchNamespace("one-a", String(ns.metadata.resourceVersion));
      try {
        await namespaceWhen("one-a", State.Synced, (n) => stateOf(n) === State.Synced);
        await mirrorIn("Service", "one-a", "api");
        await mirrorIn("Ingress", "one-a", "web");
        // Time for any further write to show: the update itself triggers one more sync.
        await quiet(3_000);
        const modified = watch.events.filter((e) => e.type === "MODIFIED");
        assert.equal(
          modified.length,
          1,
          `namespace updates: ${JSON.stringify(modified.map((e) => e.object.metadata))}`,
        );
        const written = (modified[0] as WatchEvent).object;
        assert.equal(stateOf(written), State.Synced);
        assert.equal(written.metadata.annotations?.[Annotation.hosts], "web.one-a.example.com");
        assert.equal(statusOf(written), undefined);
        assert.ok(
          stateLabelWrittenBy(written, /metacontroller/),
          `written by Metacontroller: ${JSON.stringify(written.metadata.managedFields)}`,
        );
      } finally {
        watch.stop();
      }
      // The API server saw that one write to any namespace, besides the create.
      const writes = requestsBetween(
        countsBefore,
        await apiRequestCounts(cp, { successOnly: true }),
      );
      assert.equal(writes.get("POST namespaces"), 1);
      assert.equal(writesOf(writes, ["namespaces"]), 2, JSON.stringify([...writes]));
    },
  );

  test(
    "a new source, a changed port and a deleted source reach a Synced namespace without writing to any namespace",
    TEST_TIMEOUT,
    async () => {
      await sourceService("zw-src", "api");
      await createNamespace("zw-a");
      await namespaceWhen("zw-a", State.Synced, (n) => stateOf(n) === State.Synced);
      await quiet(3_000);
      const synced = await client.get(namespacePath("zw-a"));
      const countsBefore = await apiRequestCounts(cp, { successOnly: true });

      await sourceService("zw-src", "extra");
      await mirrorIn("Service", "zw-a", "extra");
      await patch(pathOf("Service", "zw-src", "extra"), {
        spec: { ports: [{ name: "http", port: 81, targetPort: 8080, protocol: "TCP" }] },
      });
      await mirrorIn("Service", "zw-a", "extra", (s) => portOf(s) === 81);
      await remove(pathOf("Service", "zw-src", "extra"));
      await goneFrom("Service", "zw-a", "extra");
      await quiet(3_000);

      const after = await client.get(namespacePath("zw-a"));
      assert.equal(after.metadata.resourceVersion, synced.metadata.resourceVersion);
      assert.equal(stateOf(after), State.Synced);
      // Every namespace was synced again (a source changed); none was written.
      const writes = requestsBetween(
        countsBefore,
        await apiRequestCounts(cp, { successOnly: true }),
      );
      assert.equal(writesOf(writes, ["namespaces"]), 0, JSON.stringify([...writes]));
    },
  );

  test(
    "an unmanaged Service in the way makes the namespace Degraded with a Conflict; deleting it brings Synced and the mirror",
    TEST_TIMEOUT,
    async () => {
      await sourceService("dg-src", "api");
      await createNamespace("dg-a");
      await namespaceWhen("dg-a", State.Synced, (n) => stateOf(n) === State.Synced);
      const own = await create(build.service("cache", { namespace: "dg-a", port: 6379 }));

      await sourceService("dg-src", "cache", 6379);
      const degraded = await namespaceWhen(
        "dg-a",
        State.Degraded,
        (n) => stateOf(n) === State.Degraded,
      );
      const status = statusOf(degraded);
      assert.ok(status, "a Degraded namespace says why");
      assert.deepEqual(
        status.skipped.map((e) => [e.reason, e.object, e.source]),
        [[Reason.Conflict, "Service/cache", "dg-src/cache"]],
      );
      assert.deepEqual(status.invalid, []);
      const untouched = await getMaybe(pathOf("Service", "dg-a", "cache"));
      assert.equal(untouched?.metadata.resourceVersion, own.metadata.resourceVersion);

      await remove(pathOf("Service", "dg-a", "cache"));
      const synced = await namespaceWhen(
        "dg-a",
        `${State.Synced} again`,
        (n) => stateOf(n) === State.Synced,
      );
      assert.equal(statusOf(synced), undefined, "the status is gone with the problem");
      await mirrorIn("Service", "dg-a", "cache", (s) => portOf(s) === 6379);
    },
  );
});
