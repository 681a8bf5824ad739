// Property tests of the sync engine over generated clusters: namespaces, sources in one or more
// source namespaces (with valid and invalid annotations), and objects already in the target
// namespace (our mirrors, and objects that are not ours). Requests are built in the exact shape
// Metacontroller sends (examples/sync-request.json) and go through parseSyncRequest.
//
// The checks use their own DNS and pattern rules rather than lib/dns.ts, so they test the spec
// (docs/design.md), not the implementation against itself.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Config, parseConfig } from "../lib/config.ts";
import { computeSync } from "../lib/engine.ts";
import { type HostTemplate, mapHost, parseHostTemplate } from "../lib/hosts.ts";
import { parseSyncRequest } from "../lib/request.ts";
import type { KubeObject, SyncResponse } from "../lib/types.ts";
import {
  applied,
  controller,
  ingress,
  MANAGED_BY,
  namespace,
  type ObjectOptions,
  object,
  PREFIX,
  REPLICATED_FROM,
  SKIP,
  STATUS,
  service,
  syncRequest,
} from "./support/builders.ts";

// ---------------------------------------------------------------------------------------------
// Vocabulary (spelled out in the test builders, never imported from lib/: the spec is the oracle)

const P = PREFIX;
const HOSTS = `${P}hosts`;
const STATE = `${P}state`;

const KINDS = {
  Service: { key: "Service.v1", apiVersion: "v1", resource: "services" },
  Ingress: {
    key: "Ingress.networking.k8s.io/v1",
    apiVersion: "networking.k8s.io/v1",
    resource: "ingresses",
  },
} as const;
type KindName = keyof typeof KINDS;

// ---------------------------------------------------------------------------------------------
// Independent oracles

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

function isSubdomain(value: string): boolean {
  return (
    value.length > 0 &&
    value.length <= 253 &&
    value.split(".").every((l) => l.length <= 63 && DNS_LABEL.test(l))
  );
}

/** A DNS-1123 subdomain, optionally `*.`-prefixed, at most 253 characters in all. */
function isHost(value: string): boolean {
  if (value.startsWith("*.")) return value.length <= 253 && isSubdomain(value.slice(2));
  return isSubdomain(value);
}

/** Anchored match of a comma list of names and patterns (the test pools are JS-compatible). */
function listMatches(items: readonly string[], name: string): boolean {
  return items.some((i) => new RegExp(`^(?:${i})$`).test(name));
}

// ---------------------------------------------------------------------------------------------
// Scenario model

type Annotations = Record<string, string>;

interface SourceGen {
  kind: KindName;
  /** Index into the config's source namespaces (modulo). */
  ns: number;
  name: string;
  labels: Annotations;
  annotations: Annotations;
  spec: Record<string, unknown>;
}

interface ExistingGen {
  kind: KindName;
  name: string;
  /** Ours: in `attachments` (and `related`); otherwise only in `related`. */
  ours: boolean;
  /** Source namespace named in replicated-from (ours, or an orphan that looks managed). */
  fromNs: string;
  looksManaged: boolean;
}

interface Scenario {
  sourceNamespaces: string[];
  excludeNamespaces: string[] | undefined;
  defaultTopLevelDomain: string;
  sourceSelector: string;
  podNamespace: string | undefined;
  kinds: KindName[];
  nsName: string;
  nsLabels: Annotations;
  nsAnnotations: Annotations;
  sources: SourceGen[];
  existing: ExistingGen[];
}

interface RawRequest {
  controller: {
    apiVersion: string;
    kind: string;
    metadata: Record<string, unknown>;
    spec: { attachments: { apiVersion: string; resource: string }[]; [k: string]: unknown };
    [k: string]: unknown;
  };
  object: KubeObject;
  attachments: Record<string, Record<string, KubeObject>>;
  related: Record<string, Record<string, KubeObject>>;
  finalizing: boolean;
}

// ---------------------------------------------------------------------------------------------
// Generators

const SOURCE_NS_POOL = ["develop", "staging", "baseline"];
const EXCLUDE_POOL = ["kube-system", "kube-public", "ops-.*", "legacy-[0-9]+", "team-b"];
const LONG_NS = `feature-${"l".repeat(55)}`; // 63 characters: hosts under it overflow easily
const POD_NS_POOL = ["kube-external-sync", "ops-tools"];

const dnsLabelArb = fc
  .stringMatching(/^[a-z0-9](?:[-a-z0-9]{0,20}[a-z0-9])?$/)
  .filter((s) => s.length <= 63);
const longLabelArb = fc
  .stringMatching(/^[a-z](?:[-a-z0-9]{40,61}[a-z0-9])$/)
  .filter((s) => s.length <= 63);

const nsNameArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom("feature-a", "feature-login", "team-b", "a", LONG_NS, "legacy-7"),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...SOURCE_NS_POOL, "kube-system", "ops-tools", "kube-external-sync"),
  },
  { weight: 1, arbitrary: dnsLabelArb },
  { weight: 1, arbitrary: longLabelArb },
);

const LONG_NAME = `long-${"n".repeat(58)}`; // 63 characters
const serviceNameArb = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom("api", "web", "example-api", "db", LONG_NAME) },
  { weight: 1, arbitrary: longLabelArb },
);
const ingressNameArb = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom("api", "web", "example", "web.v2", LONG_NAME) },
  // Ingress names are subdomains: dots, and up to 253 characters.
  { weight: 1, arbitrary: fc.constantFrom(`${LONG_NAME}.${LONG_NAME}.${LONG_NAME}.x`, "a.b.c") },
);

const listOf = (items: readonly string[], max = 3) =>
  fc.array(fc.constantFrom(...items), { maxLength: max }).map((a) => a.join(","));

const GOOD_NAME_ITEMS = [
  "feature-.*",
  "feature-a",
  "team-b",
  ".*",
  "staging",
  "develop",
  "kube-system",
  "ops-tools",
  "[a-z]+",
  "feature-(login|a)",
  " feature-login ",
  "",
  "a",
];
const BAD: Record<string, readonly string[]> = {
  "replicate-to": ["feature-[", "(", "a{1001}", "\\C", "x**"],
  "replicate-to-matching": ["", "a in (", "=b", "!", "a==b==c", "Branch=TRUE!"],
  "replicate-to-annotated": ["", "a in (", "("],
  "exclude-namespaces": ["\\C", "feature-(", "[z-a]"],
  "external-name-suffix": ["Bad_Suffix", "", "-x.local"],
  "top-level-domain": ["*.", "Example.COM", "*.-bad", "*.a_b.com"],
  "host-template": ["{", "{unknown}.{namespace}.example.com", "static.example.com", "{namespace"],
  "tld-secret-name": ["Bad Name", "UPPER"],
  "strip-labels": ["???", "a b"],
  "strip-annotations": ["a b c", "%"],
};
const BAD_KEYS = Object.keys(BAD);

const good = {
  "replicate-to": listOf(GOOD_NAME_ITEMS),
  "replicate-to-matching": fc.constantFrom(
    "branch=true",
    "env in (dev,test)",
    "!frozen",
    "branch",
    "env!=prod",
    "team=a,branch=true",
    "env notin (prod)",
  ),
  "replicate-to-annotated": fc.constantFrom("team", "owner=alice", "!team", "owner in (alice,bob)"),
  "exclude-namespaces": listOf(["feature-login", "team-.*", LONG_NS, "legacy-[0-9]+", "", "a"], 2),
  "external-name-suffix": fc.constantFrom("svc.cluster.local", "svc.corp.example"),
  "top-level-domain": fc.constantFrom(
    "*.example.com",
    "example.com",
    "*.dev.example.org",
    "*.feature.example.com",
    `*.${"d".repeat(60)}.${"e".repeat(60)}.${"f".repeat(60)}.example.com`,
  ),
  "host-template": fc.constantFrom(
    "{name}-{namespace}.example.com",
    "{namespace}.example.net",
    "{ingress}.{namespace}.example.com",
    "{name}.{namespace}.{sourceNamespace}.example.com",
    "{namespace}-{host}",
  ),
  "tld-secret-name": fc.constantFrom("wildcard-tls", "example-com-tls"),
  "strip-labels": fc.constantFrom("true", "team", "team,app.kubernetes.io/name", "false", ""),
  "strip-annotations": fc.constantFrom("true", "description", "false", "description,,"),
} as const;

/** A control annotation value: usually valid, sometimes one of the invalid ones. */
function maybeBad(key: keyof typeof good): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: good[key] as fc.Arbitrary<string> },
    { weight: 1, arbitrary: fc.constantFrom(...(BAD[key] ?? [])) },
  );
}

const controlAnnotationsArb = fc
  .record(
    {
      "replicate-to": maybeBad("replicate-to"),
      "replicate-to-matching": maybeBad("replicate-to-matching"),
      "replicate-to-annotated": maybeBad("replicate-to-annotated"),
      "exclude-namespaces": maybeBad("exclude-namespaces"),
      "external-name-suffix": maybeBad("external-name-suffix"),
      "top-level-domain": maybeBad("top-level-domain"),
      "host-template": maybeBad("host-template"),
      "tld-secret-name": maybeBad("tld-secret-name"),
      "strip-labels": maybeBad("strip-labels"),
      "strip-annotations": maybeBad("strip-annotations"),
      "keep-owner-references": fc.constant("true"),
      "replicate-too": fc.constant("typo"),
    },
    { requiredKeys: [] },
  )
  .map((r) => {
    const out: Annotations = {};
    for (const [k, v] of Object.entries(r)) out[`${P}${k}`] = v;
    return out;
  });

const otherAnnotationsArb = fc.record(
  {
    description: fc.constantFrom("the api", "", "multi\nline"),
    "meta.helm.sh/release-name": fc.constant("rel"),
    "external-dns.alpha.kubernetes.io/hostname": fc.constant("api.example.com"),
    "kubectl.kubernetes.io/last-applied-configuration": fc.constant("{}"),
    "argocd.argoproj.io/tracking-id": fc.constant("app:/Service:develop/api"),
  },
  { requiredKeys: [] },
);

const sourceLabelsArb = fc.record(
  {
    tier: fc.constantFrom("backend", "internal"),
    team: fc.constantFrom("a", "b"),
    "app.kubernetes.io/instance": fc.constant("inst"),
    // A Helm-managed source is still a source; one that says it is ours is not.
    [MANAGED_BY]: fc.constantFrom("Helm", "Helm", "Helm", "kube-external-sync"),
  },
  { requiredKeys: [] },
);

const portArb = fc.record(
  {
    name: fc.constantFrom("http", "grpc", "metrics"),
    protocol: fc.constantFrom("TCP", "UDP"),
    port: fc.integer({ min: 1, max: 65535 }),
    targetPort: fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom("http", "web")),
    appProtocol: fc.constantFrom("http", "kubernetes.io/h2c"),
    nodePort: fc.integer({ min: 30000, max: 32767 }),
  },
  // As read from the API server: protocol and targetPort are always defaulted.
  { requiredKeys: ["name", "protocol", "port", "targetPort"] },
);

const serviceSpecArb = fc
  .record({
    type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer"),
    ports: fc.array(portArb, { maxLength: 3 }),
    ip: fc.integer({ min: 1, max: 254 }),
  })
  .map(({ type, ports, ip }) => ({
    selector: { app: "x" },
    ports: type === "ClusterIP" ? ports.map(({ nodePort: _, ...p }) => p) : ports,
    type,
    clusterIP: `10.96.0.${ip}`,
    clusterIPs: [`10.96.0.${ip}`],
    ipFamilies: ["IPv4"],
    ipFamilyPolicy: "SingleStack",
    sessionAffinity: "None",
    internalTrafficPolicy: "Cluster",
  }));

const HOST_POOL = [
  "develop.example.com",
  "api.develop.example.com",
  "example.com",
  "*.example.com",
  "api.other.org",
  "localhost",
  `${"h".repeat(60)}.example.com`,
  "a.b.c.example.com",
  "develop.dev.example.org",
  "*.dev.example.org",
  "develop.feature.example.com",
  "*.com",
  // Valid here, too long once a 63-character namespace replaces the first label.
  `x.${"p".repeat(60)}.${"q".repeat(60)}.${"r".repeat(60)}.example.com`,
];
const hostArb = fc.constantFrom(...HOST_POOL);

const pathArb = fc.record({
  path: fc.constantFrom("/", "/api", "/v2"),
  pathType: fc.constantFrom("Prefix", "Exact"),
  backend: fc.record({
    service: fc.record({
      name: fc.constantFrom("api", "web"),
      port: fc.oneof(
        fc.constant({ number: 80 }),
        fc.constant({ name: "http" }) as fc.Arbitrary<{ number?: number; name?: string }>,
      ),
    }),
  }),
});

const ingressRuleArb = fc.record(
  { host: hostArb, http: fc.record({ paths: fc.array(pathArb, { minLength: 1, maxLength: 2 }) }) },
  { requiredKeys: [] },
);

const ingressSpecArb = fc.record(
  {
    ingressClassName: fc.constantFrom("traefik", "nginx"),
    defaultBackend: fc.constant({ service: { name: "web", port: { number: 80 } } }),
    rules: fc.array(ingressRuleArb, { maxLength: 3 }),
    tls: fc.array(
      fc.record(
        {
          hosts: fc.uniqueArray(hostArb, { maxLength: 3 }),
          secretName: fc.constantFrom("develop-tls", "wildcard-tls"),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: ["rules"] },
);

const sourceArb: fc.Arbitrary<SourceGen> = fc
  .constantFrom<KindName>("Service", "Ingress")
  .chain((kind) =>
    fc.record({
      kind: fc.constant(kind),
      ns: fc.nat({ max: 5 }),
      name: kind === "Service" ? serviceNameArb : ingressNameArb,
      labels: sourceLabelsArb as fc.Arbitrary<Annotations>,
      annotations: fc
        .tuple(controlAnnotationsArb, otherAnnotationsArb as fc.Arbitrary<Annotations>)
        .map(([a, b]) => ({ ...b, ...a })),
      spec: (kind === "Service" ? serviceSpecArb : ingressSpecArb) as fc.Arbitrary<
        Record<string, unknown>
      >,
    }),
  );

const existingArb: fc.Arbitrary<ExistingGen> = fc
  .constantFrom<KindName>("Service", "Ingress")
  .chain((kind) =>
    fc.record({
      kind: fc.constant(kind),
      name: kind === "Service" ? serviceNameArb : ingressNameArb,
      ours: fc.boolean(),
      fromNs: fc.constantFrom(...SOURCE_NS_POOL, "gone"),
      looksManaged: fc.boolean(),
    }),
  );

const nsLabelsArb = fc.record(
  {
    branch: fc.constantFrom("true", "false"),
    env: fc.constantFrom("dev", "test", "prod"),
    frozen: fc.constant(""),
    team: fc.constantFrom("a", "b"),
  },
  { requiredKeys: [] },
);

const nsAnnotationsArb = fc
  .record(
    {
      team: fc.constantFrom("a", "b"),
      owner: fc.constantFrom("alice", "bob", "carol"),
      skip: fc.constantFrom(
        "api",
        "Ingress/web",
        "*",
        "Service/api,web",
        "Foo/x",
        "!!",
        ",,,",
        "",
        "ingress/example",
      ),
    },
    { requiredKeys: [] },
  )
  .map(({ skip, ...rest }) => (skip === undefined ? rest : { ...rest, [SKIP]: skip }));

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  sourceNamespaces: fc.shuffledSubarray(SOURCE_NS_POOL, { minLength: 1 }),
  excludeNamespaces: fc.option(fc.subarray(EXCLUDE_POOL), { nil: undefined }),
  defaultTopLevelDomain: fc.constantFrom("", "", "*.example.com", "*.dev.example.org"),
  sourceSelector: fc.constantFrom("", "", "", "tier!=internal"),
  podNamespace: fc.option(fc.constantFrom(...POD_NS_POOL), { nil: undefined }),
  kinds: fc.constantFrom<KindName[]>(
    ["Service", "Ingress"],
    ["Service", "Ingress"],
    ["Ingress", "Service"],
    ["Service"],
    ["Ingress"],
  ),
  nsName: nsNameArb,
  nsLabels: nsLabelsArb as fc.Arbitrary<Annotations>,
  nsAnnotations: nsAnnotationsArb as fc.Arbitrary<Annotations>,
  sources: fc.array(sourceArb, { maxLength: 10 }),
  existing: fc.array(existingArb, { maxLength: 6 }),
});

// ---------------------------------------------------------------------------------------------
// Building requests, and simulating what Metacontroller and the API server do with an answer

function configOf(s: Scenario): Config {
  const doc: Record<string, unknown> = {
    sourceNamespaces: s.sourceNamespaces,
    defaultTopLevelDomain: s.defaultTopLevelDomain,
    sourceSelector: s.sourceSelector,
  };
  if (s.excludeNamespaces !== undefined) doc.excludeNamespaces = s.excludeNamespaces;
  return parseConfig(doc, s.podNamespace);
}

const effectiveExcludes = (s: Scenario): string[] =>
  s.excludeNamespaces ?? ["kube-system", "kube-public", "kube-node-lease"];

function isEligible(s: Scenario, name: string): boolean {
  return (
    !s.sourceNamespaces.includes(name) &&
    name !== s.podNamespace &&
    !listMatches(effectiveExcludes(s), name)
  );
}

function controllerOf(kinds: readonly KindName[]): RawRequest["controller"] {
  return controller(
    kinds.map((k) => ({ apiVersion: KINDS[k].apiVersion, resource: KINDS[k].resource })),
  ) as RawRequest["controller"];
}

/** What an older version of the hook left in the namespace: a mirror, already applied. */
function staleMirror(e: ExistingGen, parent: KubeObject): KubeObject {
  const nsName = parent.metadata.name;
  const metadata = {
    name: e.name,
    namespace: nsName,
    labels: { "app.kubernetes.io/name": e.name, [MANAGED_BY]: "kube-external-sync" },
    annotations: { description: "stale", [REPLICATED_FROM]: `${e.fromNs}/${e.name}` },
  };
  const desired: KubeObject =
    e.kind === "Service"
      ? {
          apiVersion: "v1",
          kind: "Service",
          metadata,
          spec: {
            type: "ExternalName",
            externalName: `${e.name}.${e.fromNs}.svc.cluster.local`,
            ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080 }],
          },
        }
      : {
          apiVersion: KINDS.Ingress.apiVersion,
          kind: "Ingress",
          metadata,
          spec: {
            ingressClassName: "traefik",
            rules: [
              {
                host: `${nsName}.example.com`,
                http: {
                  paths: [
                    {
                      path: "/",
                      pathType: "Prefix",
                      backend: { service: { name: "web", port: { number: 80 } } },
                    },
                  ],
                },
              },
            ],
          },
        };
  return applied(desired, parent);
}

/** An object in the target namespace that this controller did not create. */
function unmanaged(e: ExistingGen, nsName: string): KubeObject {
  const opts: ObjectOptions = {
    namespace: nsName,
    labels: { "app.kubernetes.io/name": e.name },
  };
  if (e.looksManaged) {
    // An orphan that carries our marks (e.g. copied by hand): still not ours to touch.
    opts.labels = { ...opts.labels, [MANAGED_BY]: "kube-external-sync" };
    opts.annotations = { [REPLICATED_FROM]: `${e.fromNs}/${e.name}` };
  }
  return e.kind === "Service"
    ? service(e.name, opts)
    : ingress(e.name, { ...opts, hosts: [`${e.name}.${nsName}.example.com`] });
}

const NS_UID = "6f1c2a06-0000-4000-8000-000000000006";

function sourceNsOf(s: Scenario, src: SourceGen): string {
  return s.sourceNamespaces[src.ns % s.sourceNamespaces.length] ?? "develop";
}

/** Objects of declared kinds, the first of each kind and `namespace/name` (as a request map keeps). */
function firstOfEach(objects: readonly KubeObject[], kinds: readonly KindName[]): KubeObject[] {
  const seen = new Set<string>();
  return objects.filter((o) => {
    const key = `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
    if (!kinds.includes(o.kind as KindName) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function buildRequest(s: Scenario): RawRequest {
  const annotations = Object.keys(s.nsAnnotations).length > 0 ? { ...s.nsAnnotations } : undefined;
  const parent = namespace(s.nsName, { uid: NS_UID, labels: s.nsLabels, annotations });
  const sources = s.sources.map((src) =>
    object(
      KINDS[src.kind].apiVersion,
      src.kind,
      sourceNsOf(s, src),
      src.name,
      { spec: structuredClone(src.spec), status: { loadBalancer: {} } },
      {
        labels: { "app.kubernetes.io/name": src.name, ...src.labels },
        annotations: src.annotations,
      },
    ),
  );
  const stale = new Set<KubeObject>();
  const existing = s.existing.map((e) => {
    if (!e.ours) return unmanaged(e, s.nsName);
    const mirror = staleMirror(e, parent);
    stale.add(mirror);
    return mirror;
  });
  const related = firstOfEach([...sources, ...existing], s.kinds);
  const ours = related.filter((o) => stale.has(o));
  return syncRequest({
    controller: controllerOf(s.kinds),
    namespace: parent,
    related,
    attachments: ours,
  }) as unknown as RawRequest;
}

function sync(raw: RawRequest, config: Config): SyncResponse {
  return computeSync(parseSyncRequest(raw, config), config).response;
}

const kindKeyOf = (o: KubeObject): string => KINDS[o.kind as KindName].key;

/**
 * The next request Metacontroller sends after applying `resp`: the parent's labels and
 * annotations patched, attachments created, updated or deleted, and the target namespace's part
 * of `related` reflecting that. Source namespaces are unchanged.
 */
function feedback(raw: RawRequest, resp: SyncResponse): RawRequest {
  const next = structuredClone(raw);
  const N = next.object.metadata.name;
  const patch = (
    from: Record<string, string> | undefined,
    with_: Record<string, string | null>,
  ): Record<string, string> => {
    const out = { ...(from ?? {}) };
    for (const [k, v] of Object.entries(with_)) {
      if (v === null) delete out[k];
      else out[k] = v;
    }
    return out;
  };
  next.object.metadata.annotations = patch(next.object.metadata.annotations, resp.annotations);
  next.object.metadata.labels = patch(next.object.metadata.labels, resp.labels);
  for (const key of Object.keys(next.attachments)) {
    const rel = next.related[key] ?? {};
    for (const k of Object.keys(next.attachments[key] ?? {})) delete rel[k];
    next.related[key] = rel;
    next.attachments[key] = {};
  }
  for (const a of resp.attachments) {
    const key = kindKeyOf(a);
    const obj = applied(a, next.object);
    const att = next.attachments[key] ?? {};
    const rel = next.related[key] ?? {};
    att[`${N}/${a.metadata.name}`] = obj;
    rel[`${N}/${a.metadata.name}`] = obj;
    next.attachments[key] = att;
    next.related[key] = rel;
  }
  return next;
}

// Deterministic shuffling, seeded by fast-check.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffledRecord<V>(rec: Record<string, V>, rnd: () => number): Record<string, V> {
  const keys = Object.keys(rec);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const a = keys[i] as string;
    keys[i] = keys[j] as string;
    keys[j] = a;
  }
  const out: Record<string, V> = {};
  for (const k of keys) out[k] = rec[k] as V;
  return out;
}

/** The same request with every map (kinds, objects, labels, annotations) in another key order. */
function shuffledRequest(raw: RawRequest, seed: number): RawRequest {
  const rnd = rng(seed);
  const next = structuredClone(raw);
  const meta = (o: KubeObject) => {
    if (o.metadata.labels) o.metadata.labels = shuffledRecord(o.metadata.labels, rnd);
    if (o.metadata.annotations)
      o.metadata.annotations = shuffledRecord(o.metadata.annotations, rnd);
  };
  const maps = (m: RawRequest["related"]) => {
    const out: RawRequest["related"] = {};
    for (const [k, v] of Object.entries(shuffledRecord(m, rnd))) {
      const inner = shuffledRecord(v, rnd);
      for (const o of Object.values(inner)) meta(o);
      out[k] = inner;
    }
    return out;
  };
  next.related = maps(next.related);
  next.attachments = maps(next.attachments);
  meta(next.object);
  return next;
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Scenarios whose target namespace is eligible, so mirrors are possible. */
const eligibleScenarioArb = scenarioArb.filter((s) => isEligible(s, s.nsName));

/**
 * The same without what always needs a person (bad or unknown annotations, unmanaged objects,
 * skips), so that many namespaces have nothing to report and reach the Synced state.
 */
const tidyScenarioArb = eligibleScenarioArb.map((s) => {
  const bad = (key: string, value: string) =>
    key === `${P}keep-owner-references` ||
    key === `${P}replicate-too` ||
    (BAD[key.slice(P.length)] ?? []).includes(value);
  const sources = s.sources.map((src) => ({
    ...src,
    annotations: Object.fromEntries(Object.entries(src.annotations).filter(([k, v]) => !bad(k, v))),
  }));
  const { [SKIP]: _skip, ...nsAnnotations } = s.nsAnnotations;
  return { ...s, sources, nsAnnotations, existing: s.existing.filter((e) => e.ours) };
});
const someScenarioArb = fc.oneof(eligibleScenarioArb, tidyScenarioArb);

// Sized so the whole file runs in a few seconds on two cores; PROPERTY_RUNS=20000 to hunt bugs.
const RUNS = Number(process.env.PROPERTY_RUNS ?? 500);

// ---------------------------------------------------------------------------------------------
// a. Deterministic

test("a. deterministic: same request twice, and in any key order, gives byte-identical answers", () => {
  fc.assert(
    fc.property(scenarioArb, fc.integer(), (s, seed) => {
      const config = configOf(s);
      const raw = deepFreeze(buildRequest(s)); // also: the engine never mutates its input
      const first = JSON.stringify(sync(raw, config));
      assert.equal(JSON.stringify(sync(raw, config)), first);
      assert.equal(JSON.stringify(sync(shuffledRequest(raw, seed), config)), first);
      // A round trip through JSON, as over HTTP.
      assert.equal(JSON.stringify(sync(JSON.parse(JSON.stringify(raw)), config)), first);
    }),
    { numRuns: RUNS },
  );
});

// ---------------------------------------------------------------------------------------------
// b. Idempotent

/**
 * True when Metacontroller would update the namespace for `resp`: it merges the answer's labels
 * and annotations key by key (null deletes) and writes only when that changes something.
 */
function writesNamespace(raw: RawRequest, resp: SyncResponse): boolean {
  const changes = (
    current: Record<string, string> | undefined,
    wanted: Record<string, string | null>,
  ): boolean =>
    Object.entries(wanted).some(([k, v]) =>
      v === null ? current?.[k] !== undefined : current?.[k] !== v,
    );
  return (
    changes(raw.object.metadata.labels, resp.labels) ||
    changes(raw.object.metadata.annotations, resp.annotations)
  );
}

test("b. fixed point: once the answer is applied, the next answer is the same and writes nothing", () => {
  let withMirrors = 0;
  let synced = 0;
  fc.assert(
    fc.property(someScenarioArb, (s) => {
      const config = configOf(s);
      const raw = buildRequest(s);
      const first = sync(raw, config);
      if (first.attachments.length > 0) withMirrors++;
      const raw2 = feedback(raw, first);
      const second = sync(raw2, config);
      // The mirrors are settled at once; the namespace may learn that they are in place.
      assert.equal(JSON.stringify(second.attachments), JSON.stringify(first.attachments));
      const raw3 = feedback(raw2, second);
      const third = sync(raw3, config);
      assert.equal(JSON.stringify(third), JSON.stringify(second));
      assert.equal(writesNamespace(raw3, third), false, "an unchanged cluster is written again");
      // A new namespace is written at most once on its way there: no flapping label.
      const writes = Number(writesNamespace(raw, first)) + Number(writesNamespace(raw2, second));
      assert.ok(writes <= 1, `the namespace was written ${writes} times`);
      if (second.labels[STATE] === "Synced") synced++;
    }),
    { numRuns: RUNS },
  );
  assert.ok(withMirrors > RUNS / 10, `only ${withMirrors} of ${RUNS} runs produced mirrors`);
  assert.ok(synced > RUNS / 50, `only ${synced} of ${RUNS} runs reached Synced`);
});

test("b. once Synced, removing sources with nothing to report writes at most the hosts", () => {
  let checked = 0;
  fc.assert(
    fc.property(tidyScenarioArb, fc.nat(), (s, pick) => {
      const config = configOf(s);
      const raw = buildRequest(s);
      const raw2 = feedback(raw, sync(raw, config));
      const settled = feedback(raw2, sync(raw2, config));
      if (settled.object.metadata.labels?.[STATE] !== "Synced") return;
      // Delete some sources: every n-th object in the source namespaces.
      const next = structuredClone(settled);
      const step = (pick % 3) + 1;
      for (const group of Object.values(next.related)) {
        Object.keys(group)
          .filter((k) => !k.startsWith(`${s.nsName}/`))
          .forEach((k, i) => {
            if (i % step === 0) delete group[k];
          });
      }
      const after = sync(next, config);
      if (after.annotations[STATUS] !== null) return;
      checked++;
      assert.equal(after.labels[STATE], "Synced");
      const { [HOSTS]: hosts, ...rest } = after.annotations;
      assert.equal(writesNamespace(next, { ...after, annotations: rest }), false);
      if (hosts === next.object.metadata.annotations?.[HOSTS]) {
        assert.equal(writesNamespace(next, after), false);
      }
    }),
    { numRuns: RUNS },
  );
  assert.ok(checked > RUNS / 100, `only ${checked} of ${RUNS} runs removed sources from Synced`);
});

// ---------------------------------------------------------------------------------------------
// c. Non-intrusion

test("c. non-intrusion: no mirror takes the kind and name of an object that is not ours", () => {
  fc.assert(
    fc.property(eligibleScenarioArb, (s) => {
      const raw = buildRequest(s);
      const resp = sync(raw, configOf(s));
      const N = s.nsName;
      for (const a of resp.attachments) {
        const key = kindKeyOf(a);
        const id = `${N}/${a.metadata.name}`;
        if (raw.related[key]?.[id] !== undefined) {
          assert.ok(
            raw.attachments[key]?.[id] !== undefined,
            `${a.kind}/${a.metadata.name} exists in ${N}, is not ours, and was returned`,
          );
        }
      }
    }),
    { numRuns: RUNS },
  );
});

// ---------------------------------------------------------------------------------------------
// d. Never into source, excluded or own namespace

test("d. source namespaces, excluded namespaces and POD_NAMESPACE never receive a mirror", () => {
  fc.assert(
    fc.property(
      scenarioArb,
      fc.constantFrom("source", "excluded", "pod"),
      fc.nat(),
      (s0, which, i) => {
        let nsName: string;
        let podNamespace = s0.podNamespace;
        let excludeNamespaces = s0.excludeNamespaces;
        if (which === "source") {
          nsName = s0.sourceNamespaces[i % s0.sourceNamespaces.length] ?? "develop";
        } else if (which === "pod") {
          podNamespace = POD_NS_POOL[i % POD_NS_POOL.length];
          nsName = podNamespace ?? "ops-tools";
        } else {
          const candidates = ["kube-system", "kube-public", "ops-x", "legacy-12", "team-b"];
          excludeNamespaces = [...(excludeNamespaces ?? []), "kube-system"];
          nsName = candidates.find((c) => listMatches(excludeNamespaces ?? [], c)) ?? "kube-system";
        }
        const s = { ...s0, nsName, podNamespace, excludeNamespaces };
        assert.ok(!isEligible(s, nsName));
        const resp = sync(buildRequest(s), configOf(s));
        assert.deepEqual(resp.attachments, []);
      },
    ),
    { numRuns: RUNS },
  );
  // And in arbitrary scenarios: whatever the namespace, the rule holds.
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const resp = sync(buildRequest(s), configOf(s));
      if (!isEligible(s, s.nsName)) assert.deepEqual(resp.attachments, []);
    }),
    { numRuns: RUNS },
  );
});

// ---------------------------------------------------------------------------------------------
// e. Valid DNS everywhere; names are the source names

interface IngressSpecOut {
  rules?: { host?: unknown }[];
  tls?: { hosts?: unknown[] }[];
}

/** Asserts every rule and TLS host of an Ingress mirror is valid DNS; returns the rule count. */
function checkIngressHosts(mirror: KubeObject, where: string): number {
  const spec = mirror.spec as IngressSpecOut;
  assert.ok((spec.rules ?? []).length > 0, `${where}: an Ingress mirror without rules`);
  for (const r of spec.rules ?? []) {
    assert.equal(typeof r.host, "string", `${where}: rule without host`);
    assert.ok(isHost(r.host as string), `${where}: invalid rule host ${String(r.host)}`);
  }
  for (const h of (spec.tls ?? []).flatMap((t) => t.hosts ?? [])) {
    assert.equal(typeof h, "string");
    assert.ok(isHost(h as string), `${where}: invalid TLS host ${String(h)}`);
  }
  return (spec.rules ?? []).length;
}

/** Asserts a Service mirror is an ExternalName to a valid DNS name; counts as one host. */
function checkExternalName(mirror: KubeObject, where: string): number {
  const spec = mirror.spec as { type?: unknown; externalName?: unknown };
  assert.equal(spec.type, "ExternalName");
  assert.equal(typeof spec.externalName, "string");
  assert.ok(isSubdomain(spec.externalName as string), `${where}: invalid externalName`);
  return 1;
}

test("e. every host and externalName is valid DNS, and every mirror is named after its source", () => {
  let hosts = 0;
  fc.assert(
    fc.property(eligibleScenarioArb, (s) => {
      const raw = buildRequest(s);
      const resp = sync(raw, configOf(s));
      for (const a of resp.attachments) {
        const where = `${a.kind}/${a.metadata.name}`;
        hosts += a.kind === "Ingress" ? checkIngressHosts(a, where) : checkExternalName(a, where);
        // Named after a source that exists in a source namespace, and says so.
        const from = a.metadata.annotations?.[REPLICATED_FROM];
        assert.equal(typeof from, "string", `${where}: no ${REPLICATED_FROM}`);
        const [srcNs, srcName] = (from as string).split("/");
        assert.equal(srcName, a.metadata.name);
        assert.ok(s.sourceNamespaces.includes(srcNs ?? ""), `${where}: from ${from}`);
        assert.ok(raw.related[kindKeyOf(a)]?.[from as string] !== undefined, `${where}: ${from}`);
        assert.equal(a.metadata.labels?.[MANAGED_BY], "kube-external-sync");
      }
    }),
    { numRuns: RUNS },
  );
  assert.ok(hosts > 0);
});

// ---------------------------------------------------------------------------------------------
// f. Response shape

/** The state label, hosts and status an eligible namespace gets agree with each other. */
function checkNamespaceOutputs(resp: SyncResponse, currentState: string | undefined): void {
  const status = resp.annotations[STATUS] ?? null;
  const hosts = resp.annotations[HOSTS] ?? null;
  assert.ok([null, "Synced", "Degraded"].includes(resp.labels[STATE] ?? null));
  const parsed = JSON.parse(status ?? "{}") as Record<string, { reason: string }[]>;
  const listed: { reason: string; source?: string }[] = [
    ...(parsed.skipped ?? []),
    ...(parsed.invalid ?? []),
  ];
  if (status !== null) {
    assert.ok(!("mirrors" in parsed), "the status counts nothing");
    assert.ok(listed.length > 0, "a status is written only with something to say");
    assert.ok(status.length < 64 * 1024, "status annotation is not capped");
  }
  // Degraded exactly when the status lists a problem; a skip the namespace asked for is none, and
  // neither is an invalid source (reported everywhere) in a namespace with no mirror and no state.
  // (With entries omitted, the unlisted ones may hold the problem.)
  const unrelated =
    resp.attachments.length === 0 && currentState !== "Synced" && currentState !== "Degraded";
  const reportedEverywhere = (i: { reason: string; source?: string }) =>
    i.reason === "InvalidAnnotation" && i.source !== undefined;
  if (!("omitted" in parsed)) {
    const problems = listed.some(
      (i) => i.reason !== "Skipped" && !(unrelated && reportedEverywhere(i)),
    );
    assert.equal(resp.labels[STATE] === "Degraded", problems, `state with status ${status}`);
  }
  if (hosts !== null) {
    const list = hosts.split(",");
    assert.ok(list.every(isHost), hosts);
    assert.deepEqual(list, [...new Set(list)].sort(), "hosts are sorted and distinct");
  }
}

test("f. mirrors use the request namespace and the declared apiVersion; no status field", () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const resp = sync(buildRequest(s), configOf(s)) as SyncResponse & Record<string, unknown>;
      assert.ok(!("status" in resp), "response has a status field");
      assert.deepEqual(Object.keys(resp).sort(), [
        "annotations",
        "attachments",
        "labels",
        "resyncAfterSeconds",
      ]);
      const declared = new Map(s.kinds.map((k) => [k as string, KINDS[k].apiVersion as string]));
      for (const a of resp.attachments) {
        assert.ok(declared.has(a.kind), `${a.kind} is not declared`);
        assert.equal(a.apiVersion, declared.get(a.kind));
        assert.equal(a.metadata.namespace, s.nsName);
        assert.ok(!("status" in a), `${a.kind}/${a.metadata.name} has a status`);
        for (const f of ["uid", "resourceVersion", "ownerReferences", "managedFields"]) {
          assert.ok(!(f in a.metadata), `${a.kind}/${a.metadata.name} carries ${f}`);
        }
      }
      // Every answer names each key the hook writes on a namespace, with a value or null.
      assert.deepEqual(Object.keys(resp.labels), [STATE]);
      assert.deepEqual(Object.keys(resp.annotations), [HOSTS, STATUS]);
      if (isEligible(s, s.nsName)) {
        checkNamespaceOutputs(resp, s.nsLabels[STATE]);
      } else {
        // Removes whatever the hook wrote before a config change.
        assert.deepEqual(resp.labels, { [STATE]: null });
        assert.deepEqual(resp.annotations, { [HOSTS]: null, [STATUS]: null });
      }
    }),
    { numRuns: RUNS },
  );
});

// ---------------------------------------------------------------------------------------------
// g. Fail static

test("g. fail-static: an invalid annotation never removes or changes an existing mirror", () => {
  let checked = 0;
  fc.assert(
    fc.property(
      eligibleScenarioArb,
      fc.nat(),
      fc.constantFrom(...BAD_KEYS),
      fc.nat(),
      (s, pick, badKey, badIndex) => {
        const config = configOf(s);
        const raw = buildRequest(s);
        const before = sync(raw, config);
        if (before.attachments.length === 0) return;
        checked++;
        const mirror = before.attachments[pick % before.attachments.length] as KubeObject;
        const from = mirror.metadata.annotations?.[REPLICATED_FROM] ?? "";
        const key = kindKeyOf(mirror);
        // The cluster after the first answer was applied; then someone breaks the source.
        const next = feedback(raw, before);
        const source = next.related[key]?.[from];
        assert.ok(source !== undefined, `source ${from} of ${mirror.kind} not found`);
        const bads = BAD[badKey] ?? [];
        source.metadata.annotations = {
          ...source.metadata.annotations,
          [`${P}${badKey}`]: bads[badIndex % bads.length] ?? "(",
        };
        const after = sync(next, config);
        const kept = after.attachments.find(
          (a) => a.kind === mirror.kind && a.metadata.name === mirror.metadata.name,
        );
        assert.ok(kept !== undefined, `${mirror.kind}/${mirror.metadata.name} was removed`);
        assert.deepEqual(kept, mirror);
        // Every other mirror is unaffected by the one broken source.
        const others = (r: SyncResponse) =>
          JSON.stringify(r.attachments.filter((a) => a !== kept && a !== mirror));
        assert.equal(others(after), others(before));
        const status = JSON.parse(after.annotations[STATUS] ?? "{}") as {
          invalid: { reason: string; source?: string; message: string }[];
          omitted: number;
        };
        if (status.omitted === 0) {
          assert.ok(
            status.invalid.some(
              (i) =>
                i.reason === "InvalidAnnotation" &&
                i.source === from &&
                i.message.includes(`metadata.annotations[${P}`),
            ),
            `${from} not reported as InvalidAnnotation`,
          );
        }
      },
    ),
    { numRuns: RUNS },
  );
  assert.ok(checked > RUNS / 10, `only ${checked} of ${RUNS} runs had a mirror to break`);
});

// ---------------------------------------------------------------------------------------------
// h. mapHost

const baseDomainArb = fc
  .array(dnsLabelArb, { minLength: 1, maxLength: 4 })
  .map((l) => l.join("."))
  .filter((d) => d.length <= 253);

const hostInputArb = fc.oneof(
  { weight: 3, arbitrary: baseDomainArb },
  { weight: 2, arbitrary: baseDomainArb.map((d) => `*.${d}`) },
  { weight: 1, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: hostArb },
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.stringMatching(/^[a-z0-9]{1,63}$/), { minLength: 3, maxLength: 6 })
      .map((l) => l.join(".")),
  },
);

const templateArb: fc.Arbitrary<HostTemplate | undefined> = fc.oneof(
  fc.constant(undefined),
  fc
    .tuple(
      fc.array(
        fc.oneof(
          fc.constantFrom("{name}", "{ingress}", "{sourceNamespace}", "{host}", "-", "."),
          dnsLabelArb,
        ),
        { maxLength: 4 },
      ),
      fc.array(fc.oneof(fc.constantFrom("-", ".", "{name}"), dnsLabelArb), { maxLength: 3 }),
      baseDomainArb,
    )
    .map(([pre, mid, base]) => {
      const r = parseHostTemplate(
        `${pre.join("")}{namespace}${mid.join("")}.${base}`,
        "metadata.annotations[kube-external-sync.io/host-template]",
      );
      return r.ok ? r.value : undefined;
    }),
);

test("h. mapHost: contains the namespace, is valid DNS or a reported drop, never throws", () => {
  fc.assert(
    fc.property(
      hostInputArb,
      fc.oneof(dnsLabelArb, fc.constant(LONG_NS)),
      fc.oneof(dnsLabelArb, fc.constantFrom(...SOURCE_NS_POOL)),
      fc.oneof(baseDomainArb, fc.constantFrom("web", "web.v2", LONG_NAME)),
      fc.oneof(fc.constant(""), baseDomainArb),
      templateArb,
      (host, namespace, sourceNamespace, sourceName, topLevelDomain, template) => {
        const m = mapHost(host, {
          namespace,
          sourceNamespace,
          sourceName,
          topLevelDomain,
          template,
        });
        if (m.ok) {
          assert.ok(m.host.includes(namespace), `${m.host} lacks ${namespace}`);
          assert.ok(isHost(m.host), `${JSON.stringify(m.host)} is not a valid host`);
        } else {
          assert.equal(typeof m.reason, "string");
          assert.ok(m.reason.length > 0);
        }
      },
    ),
    { numRuns: RUNS * 5 },
  );
});

test("h. parseHostTemplate never throws; an accepted template names {namespace}", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 60 }),
        fc
          .array(
            fc.constantFrom("{", "}", "{namespace}", "{name}", "{x}", ".", "a", "-", "example.com"),
            { maxLength: 8 },
          )
          .map((a) => a.join("")),
      ),
      (text) => {
        const r = parseHostTemplate(text, "f");
        if (r.ok) assert.ok(r.value.text.includes("{namespace}"));
        else assert.ok(r.errors.length > 0);
      },
    ),
    { numRuns: RUNS * 2 },
  );
});

// ---------------------------------------------------------------------------------------------
// The generators reach the interesting cases (guards against a vacuous suite).

test("generators cover mirrors, conflicts, skips, invalid sources and kept mirrors", () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(someScenarioArb, (s) => {
      const raw = buildRequest(s);
      const resp = sync(raw, configOf(s));
      for (const a of resp.attachments) seen.add(`mirror:${a.kind}`);
      seen.add(`state:${sync(feedback(raw, resp), configOf(s)).labels[STATE]}`);
      const status = JSON.parse(resp.annotations[STATUS] ?? "{}") as {
        skipped?: { reason: string; message: string }[];
        invalid?: { reason: string; message: string }[];
      };
      for (const i of [...(status.skipped ?? []), ...(status.invalid ?? [])]) {
        seen.add(i.reason);
        if (i.message.includes("existing mirror kept unchanged")) seen.add("kept");
      }
    }),
    { numRuns: RUNS },
  );
  for (const want of [
    "mirror:Service",
    "mirror:Ingress",
    "state:Synced",
    "state:Degraded",
    "state:null",
    "Conflict",
    "Skipped",
    "InvalidAnnotation",
    "InvalidHost",
    "IgnoredAnnotation",
    "kept",
  ]) {
    assert.ok(seen.has(want), `no scenario produced ${want}; seen: ${[...seen].join(", ")}`);
  }
});
