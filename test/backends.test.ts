// Property tests of "backends follow the branch" (docs/design.md): over generated branches (Services
// the branch runs itself, Services it skips, our own mirrors) and generated HTTPRoutes and
// IngressRoutes, in every mode, a backend is never sent to both the branch and the baseline, and
// the ReferenceGrant lists exactly the Services the mirrors still reach in the source namespace.
// The oracle is the scenario itself (which names the branch runs), not lib/branch.ts.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseConfig } from "../lib/config.ts";
import { computeSync } from "../lib/engine.ts";
import { parseSyncRequest } from "../lib/request.ts";
import type { KubeObject } from "../lib/types.ts";
import {
  ATTACHMENTS,
  applied,
  controller,
  httpRoute,
  ingressRoute,
  LOCAL_BACKENDS,
  namespace,
  object,
  SKIP,
  service,
  syncRequest,
  toFeatures,
} from "./support/builders.ts";

const SOURCE = "develop";
const TARGET = "feature-x";
const NAMES = ["api", "web", "db", "auth", "cache"] as const;
const REF_NAMESPACES = [undefined, SOURCE, "shared"] as const;

interface RefGen {
  name: string;
  namespace: string | undefined;
}
interface Scenario {
  gatewayBackends: "source" | "local";
  traefikBackends: "source" | "local";
  /** Services in the target that are not ours. */
  own: string[];
  /** Names the namespace's skip annotation gives as Service/<name>. */
  skipped: string[];
  /** Names that already have our ExternalName mirror in the target. */
  mirrored: string[];
  httpRoutes: { refs: RefGen[]; mirrorTo: RefGen | undefined }[];
  ingressRoutes: RefGen[][];
}

const refGen: fc.Arbitrary<RefGen> = fc.record({
  name: fc.constantFrom(...NAMES),
  namespace: fc.constantFrom(...REF_NAMESPACES),
});
const subset = fc.subarray([...NAMES]);

const scenarioGen: fc.Arbitrary<Scenario> = fc.record({
  gatewayBackends: fc.constantFrom("source" as const, "local" as const),
  traefikBackends: fc.constantFrom("source" as const, "local" as const),
  own: subset,
  skipped: subset,
  mirrored: subset,
  httpRoutes: fc.array(
    fc.record({
      refs: fc.array(refGen, { minLength: 1, maxLength: 4 }),
      mirrorTo: fc.option(refGen, { nil: undefined }),
    }),
    { maxLength: 3 },
  ),
  ingressRoutes: fc.array(fc.array(refGen, { minLength: 1, maxLength: 4 }), { maxLength: 2 }),
});

const withNamespace = (ref: RefGen): Record<string, unknown> =>
  ref.namespace === undefined ? { name: ref.name } : { name: ref.name, namespace: ref.namespace };

function requestOf(s: Scenario): Record<string, unknown> {
  const annotations: Record<string, string> =
    s.skipped.length > 0 ? { [SKIP]: s.skipped.map((n) => `Service/${n}`).join(",") } : {};
  const parent = namespace(TARGET, { annotations });
  const others: KubeObject[] = [];
  for (const name of NAMES) {
    others.push(service(name, { namespace: SOURCE, annotations: toFeatures, port: 8080 }));
  }
  for (const name of s.own) others.push(service(name, { namespace: TARGET, port: 8080 }));
  s.httpRoutes.forEach((r, i) => {
    const rule: Record<string, unknown> = {
      backendRefs: r.refs.map((ref) => ({ ...withNamespace(ref), port: 8080 })),
    };
    if (r.mirrorTo !== undefined) {
      rule.filters = [
        {
          type: "RequestMirror",
          requestMirror: { backendRef: { ...withNamespace(r.mirrorTo), port: 8080 } },
        },
      ];
    }
    others.push(
      httpRoute(`route-${i}`, {
        namespace: SOURCE,
        annotations: toFeatures,
        gateway: "shared-gateway",
        hostnames: [`route-${i}.develop.example.com`],
        rules: [rule],
      }),
    );
  });
  s.ingressRoutes.forEach((refs, i) => {
    others.push(
      ingressRoute(`ingressroute-${i}`, {
        namespace: SOURCE,
        annotations: toFeatures,
        routes: [
          {
            match: `Host(\`ingressroute-${i}.develop.example.com\`)`,
            kind: "Rule",
            services: refs.map((ref) => ({ ...withNamespace(ref), port: 8080 })),
          },
        ],
      }),
    );
  });
  // Our existing ExternalName mirrors, where the branch has no Service of that name.
  const ours = s.mirrored
    .filter((name) => !s.own.includes(name))
    .map((name) =>
      applied(
        object(
          "v1",
          "Service",
          TARGET,
          name,
          {
            spec: {
              type: "ExternalName",
              externalName: `${name}.${SOURCE}.svc.cluster.local`,
            },
          },
          {
            labels: { "app.kubernetes.io/managed-by": "kube-external-sync" },
            annotations: { "kube-external-sync.io/replicated-from": `${SOURCE}/${name}` },
          },
        ),
        parent,
      ),
    );
  return syncRequest({
    controller: controller([
      ATTACHMENTS.services,
      ATTACHMENTS.httproutes,
      ATTACHMENTS.referencegrants,
      ATTACHMENTS.ingressroutes,
    ]),
    namespace: parent,
    related: [...others, ...ours],
    attachments: ours,
  });
}

interface Ref {
  name: string;
  namespace: string | undefined;
}

/** Every Service reference of a route mirror, as it left the hook. */
function serviceRefs(mirror: KubeObject): Ref[] {
  const spec = mirror.spec as { rules?: unknown[]; routes?: unknown[] };
  const refs: Ref[] = [];
  const add = (r: unknown) => {
    const ref = r as { name: string; namespace?: string; kind?: string };
    if (ref.kind === undefined || ref.kind === "Service") {
      refs.push({ name: ref.name, namespace: ref.namespace });
    }
  };
  for (const rule of (spec.rules ?? []) as { backendRefs?: unknown[]; filters?: unknown[] }[]) {
    for (const b of rule.backendRefs ?? []) add(b);
    for (const f of (rule.filters ?? []) as { requestMirror?: { backendRef: unknown } }[]) {
      if (f.requestMirror) add(f.requestMirror.backendRef);
    }
  }
  for (const route of (spec.routes ?? []) as { services?: unknown[] }[]) {
    for (const svc of route.services ?? []) add(svc);
  }
  return refs;
}

type Place = "branch" | "baseline" | "elsewhere";

/**
 * Where a reference leads: a local name resolves to the branch's own Service, or else to our
 * ExternalName mirror of the baseline's.
 */
function placeOf(ref: { name: string; namespace?: string | undefined }, runs: Set<string>): Place {
  if (ref.namespace === undefined) return runs.has(ref.name) ? "branch" : "baseline";
  return ref.namespace === SOURCE ? "baseline" : "elsewhere";
}

/** What the route mirrors of one answer send where. */
interface Sent {
  places: Map<string, Set<Place>>;
  /** Services the HTTPRoute mirrors reach in the source namespace. */
  reachedInSource: Set<string>;
}

/** Records where one route mirror sends its backends, and checks its local-backends annotation. */
function checkRoute(mirror: KubeObject, s: Scenario, runs: Set<string>, sent: Sent): void {
  const local = new Set<string>();
  // In source mode nothing reaches the baseline through an ExternalName mirror.
  const toSource =
    mirror.kind === "HTTPRoute" ? s.gatewayBackends === "source" : s.traefikBackends === "source";
  for (const ref of serviceRefs(mirror)) {
    const place = placeOf(ref, runs);
    if (place === "branch") local.add(ref.name);
    if (ref.namespace === SOURCE && mirror.kind === "HTTPRoute") sent.reachedInSource.add(ref.name);
    const seen = sent.places.get(ref.name) ?? new Set<Place>();
    seen.add(place);
    sent.places.set(ref.name, seen);
    if (toSource && ref.namespace === undefined) {
      assert.ok(runs.has(ref.name), `${mirror.kind} sends ${ref.name} to a mirror in source mode`);
    }
  }
  const annotation = mirror.metadata.annotations?.[LOCAL_BACKENDS];
  assert.equal(annotation, local.size > 0 ? [...local].sort().join(",") : undefined);
}

/** The ReferenceGrant lists exactly the Services reached in the source namespace; none, none. */
function checkGrant(attachments: readonly KubeObject[], reachedInSource: Set<string>): void {
  const grants = attachments.filter((a) => a.kind === "ReferenceGrant");
  if (reachedInSource.size === 0) {
    assert.equal(grants.length, 0, "no Service reached in the source namespace: no grant");
    return;
  }
  assert.equal(grants.length, 1);
  const spec = grants[0]?.spec as { to: { name: string }[] } | undefined;
  const to = (spec?.to ?? []).map((t) => t.name);
  assert.deepEqual(to, [...reachedInSource].sort());
}

test("a backend is never sent to both the branch and the baseline; the ReferenceGrant lists exactly the baseline backends", () => {
  fc.assert(
    fc.property(scenarioGen, (s) => {
      const config = parseConfig({
        sourceNamespaces: [SOURCE],
        defaultTopLevelDomain: "*.example.com",
        gatewayBackends: s.gatewayBackends,
        traefikBackends: s.traefikBackends,
      });
      const response = computeSync(parseSyncRequest(requestOf(s), config), config).response;
      const runs = new Set([...s.own, ...s.skipped]);
      const routes = response.attachments.filter(
        (a) => a.kind === "HTTPRoute" || a.kind === "IngressRoute",
      );
      assert.equal(routes.length, s.httpRoutes.length + s.ingressRoutes.length);

      const sent: Sent = { places: new Map(), reachedInSource: new Set() };
      for (const mirror of routes) checkRoute(mirror, s, runs, sent);
      for (const [name, seen] of sent.places) {
        assert.ok(
          !(seen.has("branch") && seen.has("baseline")),
          `${name} is sent to both the branch and the baseline`,
        );
        if (runs.has(name)) assert.ok(!seen.has("baseline"), `${name} runs in the branch`);
      }
      checkGrant(response.attachments, sent.reachedInSource);
    }),
    { numRuns: 300 },
  );
});

test("config traefikBackends: local by default; a wrong value is refused naming field and value", () => {
  assert.equal(parseConfig({}).traefikBackends, "local");
  assert.equal(parseConfig({ traefikBackends: "source" }).traefikBackends, "source");
  assert.throws(
    () => parseConfig({ traefikBackends: "remote" }),
    /traefikBackends: Invalid value: "remote": .*"local"\|"source"/,
  );
});
