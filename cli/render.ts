import { dump } from "js-yaml";
import { isMirror } from "../lib/annotations.ts";
import type { Config } from "../lib/config.ts";
import { computeCustomize, computeSync } from "../lib/engine.ts";
import { declaredKinds } from "../lib/kinds/index.ts";
import { parseCustomizeRequest, parseSyncRequest } from "../lib/request.ts";
import type { AttachmentRule, KubeObject, ObjectMap, RelatedResourceRule } from "../lib/types.ts";
import type { Manifest } from "./manifests.ts";

// `render`: the mirrors one namespace would get, computed offline by the hook's own engine from
// manifests instead of the cluster. The request is the one Metacontroller would send: the
// controller below, the namespace, the objects its customize answer asks for (taken from the
// manifests), and, as our attachments, the mirrors among them.

/**
 * The attachments of the DecoratorController with every component: the package's
 * metacontroller/decoratorcontroller.yaml plus components/traefik, traefik-v2, gateway-api and
 * tls-secrets, in that order (test/cli.test.ts checks it against those files). With all kinds
 * declared, the render shows every mirror the hook can produce; a cluster without a component
 * simply lacks that kind.
 */
export const RENDER_ATTACHMENTS: readonly AttachmentRule[] = [
  ["v1", "services"],
  ["networking.k8s.io/v1", "ingresses"],
  ["traefik.io/v1alpha1", "ingressroutes"],
  ["traefik.io/v1alpha1", "middlewares"],
  ["traefik.io/v1alpha1", "ingressroutetcps"],
  ["traefik.io/v1alpha1", "middlewaretcps"],
  ["traefik.containo.us/v1alpha1", "ingressroutes"],
  ["traefik.containo.us/v1alpha1", "middlewares"],
  ["traefik.containo.us/v1alpha1", "ingressroutetcps"],
  ["traefik.containo.us/v1alpha1", "middlewaretcps"],
  ["gateway.networking.k8s.io/v1", "httproutes"],
  ["gateway.networking.k8s.io/v1beta1", "referencegrants"],
  ["v1", "secrets"],
].map(([apiVersion, resource]) => ({
  apiVersion: apiVersion as string,
  resource: resource as string,
  updateStrategy: { method: "InPlace" },
}));

const CONTROLLER_NAME = "kube-external-sync";
/** The label the API server puts on every Namespace. */
const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";
/** Where kubectl puts a namespaced object whose manifest names no namespace. */
const DEFAULT_NAMESPACE = "default";

export interface RenderOptions {
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  config: Config;
}

export interface RenderResult {
  mirrors: KubeObject[];
  /** Lines for stderr: what the namespace status would report. */
  report: string[];
}

function namespaceOf(object: KubeObject): string | undefined {
  if (object.kind === "Namespace" && object.apiVersion === "v1") return undefined;
  return object.metadata.namespace ?? DEFAULT_NAMESPACE;
}

/** The Namespace as the API server would hold it: the manifest's, if any, then the flags. */
function namespaceObject(manifests: readonly Manifest[], options: RenderOptions): KubeObject {
  const declared = manifests.find(
    (m) =>
      m.object.apiVersion === "v1" &&
      m.object.kind === "Namespace" &&
      m.object.metadata.name === options.namespace,
  )?.object;
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: options.namespace,
      labels: {
        ...declared?.metadata.labels,
        ...options.labels,
        [NAMESPACE_NAME_LABEL]: options.namespace,
      },
      annotations: { ...declared?.metadata.annotations, ...options.annotations },
    },
  };
}

function isStringMap(value: unknown): value is Record<string, string> {
  return (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string")
  );
}

/**
 * The object as the API server would store it from this manifest. A Secret's write-only
 * `stringData` is merged into `data`, base64-encoded, its keys winning, as the server does; the
 * hook reads only `data`. Nothing is read from the values, so nothing can be printed from them.
 */
function asStored(object: KubeObject): KubeObject {
  const isSecret = object.apiVersion === "v1" && object.kind === "Secret";
  if (!isSecret || !isStringMap(object.stringData)) return object;
  const { stringData, ...rest } = object;
  const encoded = Object.fromEntries(
    Object.entries(stringData).map(([key, value]) => [key, Buffer.from(value).toString("base64")]),
  );
  return { ...rest, data: { ...(isStringMap(object.data) ? object.data : {}), ...encoded } };
}

type MatchExpression = NonNullable<
  RelatedResourceRule["labelSelector"]
>["matchExpressions"][number];

function matchesExpression(labels: Record<string, string>, e: MatchExpression): boolean {
  // Own keys only: a selector key such as `constructor` must not find Object.prototype's.
  const value = Object.hasOwn(labels, e.key) ? labels[e.key] : undefined;
  switch (e.operator) {
    case "In":
      return value !== undefined && (e.values ?? []).includes(value);
    case "NotIn":
      return value === undefined || !(e.values ?? []).includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    default:
      return false;
  }
}

/** Whether Metacontroller would send `object` for this customize rule. */
function selectedBy(rule: RelatedResourceRule, object: KubeObject): boolean {
  if (namespaceOf(object) !== rule.namespace) return false;
  if (rule.names !== undefined && !rule.names.includes(object.metadata.name)) return false;
  const labels = object.metadata.labels ?? {};
  return (rule.labelSelector?.matchExpressions ?? []).every((e) => matchesExpression(labels, e));
}

/** The DecoratorController of the render, as a hook request carries it. */
const RENDER_CONTROLLER = {
  metadata: { name: CONTROLLER_NAME },
  spec: { attachments: RENDER_ATTACHMENTS },
};

/** A sync request body (hook version v1), as Metacontroller would send it. */
export interface SyncRequestBody {
  controller: typeof RENDER_CONTROLLER;
  object: KubeObject;
  attachments: ObjectMap;
  related: ObjectMap;
}

/**
 * The sync request body Metacontroller would send for `namespace` if the manifests were the
 * cluster. It goes through the hook's own request parsing, like a request from Metacontroller.
 */
export function syncRequestBody(
  manifests: readonly Manifest[],
  options: RenderOptions,
): SyncRequestBody {
  const namespace = namespaceObject(manifests, options);
  const rules = computeCustomize(
    parseCustomizeRequest({ controller: RENDER_CONTROLLER, parent: namespace }),
    options.config,
  ).relatedResources;
  const related: ObjectMap = {};
  const attachments: ObjectMap = {};
  const kinds = declaredKinds(RENDER_ATTACHMENTS);
  for (const kind of kinds) {
    related[kind.key] = {};
    attachments[kind.key] = {};
  }
  for (const kind of kinds) {
    const kindRules = rules.filter(
      (r) => r.apiVersion === kind.apiVersion && r.resource === kind.module.resource,
    );
    for (const { object } of manifests) {
      if (object.apiVersion !== kind.apiVersion || object.kind !== kind.module.kind) continue;
      const rule = kindRules.find((r) => selectedBy(r, object));
      if (rule === undefined) continue;
      const key = `${namespaceOf(object)}/${object.metadata.name}`;
      const stored = asStored(object);
      const copy = { ...stored, metadata: { ...stored.metadata, namespace: namespaceOf(object) } };
      (related[kind.key] as ObjectMap[string])[key] = copy;
      // Our mirrors in the namespace, and companions asked for by name elsewhere, are attachments.
      const ours = namespaceOf(object) === options.namespace || rule.names !== undefined;
      if (ours && isMirror(object)) (attachments[kind.key] as ObjectMap[string])[key] = copy;
    }
  }
  return { controller: RENDER_CONTROLLER, object: namespace, attachments, related };
}

/** Counts of mirrors per kind, e.g. `Ingress: 1, Service: 3`. */
function countByKind(mirrors: readonly KubeObject[]): string {
  const counts = new Map<string, number>();
  for (const m of mirrors) counts.set(m.kind, (counts.get(m.kind) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([kind, n]) => `${kind}: ${n}`)
    .join(", ");
}

export function render(manifests: readonly Manifest[], options: RenderOptions): RenderResult {
  const request = parseSyncRequest(syncRequestBody(manifests, options), options.config);
  const outcome = computeSync(request, options.config);
  const mirrors = outcome.response.attachments;
  const N = options.namespace;
  if (outcome.status === undefined) {
    return {
      mirrors,
      report: [
        `namespace ${N}: no mirrors: it is a source namespace or excluded by the configuration`,
      ],
    };
  }
  const report = [
    `namespace ${N}: ${mirrors.length} mirror(s)${mirrors.length > 0 ? ` (${countByKind(mirrors)})` : ""}`,
  ];
  for (const issue of [...outcome.status.skipped, ...outcome.status.invalid]) {
    const from = issue.source === undefined ? "" : ` from ${issue.source}`;
    report.push(`${issue.reason} ${issue.object}${from}: ${issue.message}`);
  }
  if (outcome.status.omitted > 0) {
    report.push(`(${outcome.status.omitted} more not listed in the namespace status)`);
  }
  return { mirrors, report };
}

/** Multi-document YAML, or a JSON `v1` List (what `kubectl get -o json` prints). */
export function formatObjects(objects: readonly KubeObject[], output: "yaml" | "json"): string {
  if (output === "json") {
    return `${JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2)}\n`;
  }
  return objects.map((o) => dump(o, { noRefs: true })).join("---\n");
}
