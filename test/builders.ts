// Builders for hook requests in the exact shape Metacontroller sends them (examples/sync-request.json):
// the controller, the parent Namespace, and objects keyed by `Kind.version` or
// `Kind.group/version`, then `namespace/name`. Shared by the tests that build requests in code.

import type { KubeObject } from "../lib/types.ts";

export const CONTROLLER_NAME = "kube-external-sync";
export const REPLICATE_TO = "kube-external-sync.io/replicate-to";
export const REPLICATED_FROM = "kube-external-sync.io/replicated-from";
export const LOCAL_BACKENDS = "kube-external-sync.io/local-backends";
export const STATUS = "kube-external-sync.io/status";
export const SKIP = "kube-external-sync.io/skip";
export const MANAGED_BY = "app.kubernetes.io/managed-by";

/** Attachment declarations of the DecoratorController, by what the package and its components add. */
export const ATTACHMENTS = {
  services: { apiVersion: "v1", resource: "services" },
  ingresses: { apiVersion: "networking.k8s.io/v1", resource: "ingresses" },
  secrets: { apiVersion: "v1", resource: "secrets" },
  httproutes: { apiVersion: "gateway.networking.k8s.io/v1", resource: "httproutes" },
  referencegrants: { apiVersion: "gateway.networking.k8s.io/v1beta1", resource: "referencegrants" },
  ingressroutes: { apiVersion: "traefik.io/v1alpha1", resource: "ingressroutes" },
  middlewares: { apiVersion: "traefik.io/v1alpha1", resource: "middlewares" },
  ingressroutesV2: { apiVersion: "traefik.containo.us/v1alpha1", resource: "ingressroutes" },
  ingressroutetcpsV2: { apiVersion: "traefik.containo.us/v1alpha1", resource: "ingressroutetcps" },
} as const;
export type Attachment = (typeof ATTACHMENTS)[keyof typeof ATTACHMENTS];

/** The kind a declared resource holds. */
const KIND_OF: Record<string, string> = {
  services: "Service",
  ingresses: "Ingress",
  secrets: "Secret",
  httproutes: "HTTPRoute",
  referencegrants: "ReferenceGrant",
  ingressroutes: "IngressRoute",
  ingressroutetcps: "IngressRouteTCP",
  middlewares: "Middleware",
};

/** The key of a kind's objects in the request maps. */
export function groupKey(apiVersion: string, kind: string): string {
  return `${kind}.${apiVersion}`;
}

let uidCounter = 0;
function serverFields(): Record<string, unknown> {
  uidCounter++;
  return {
    uid: `6f1c2a${String(uidCounter).padStart(2, "0")}-0000-4000-8000-${String(uidCounter).padStart(12, "0")}`,
    resourceVersion: String(2000 + uidCounter),
    creationTimestamp: "2026-11-20T09:05:00Z",
  };
}

export function controller(attachments: readonly Attachment[]): Record<string, unknown> {
  const webhook = (path: string) => ({
    version: "v1",
    webhook: {
      service: { name: CONTROLLER_NAME, namespace: CONTROLLER_NAME, port: 80, protocol: "http" },
      timeout: "10s",
      path,
    },
  });
  return {
    apiVersion: "metacontroller.k8s.io/v1alpha1",
    kind: "DecoratorController",
    metadata: {
      name: CONTROLLER_NAME,
      uid: "6f1c2a00-0000-4000-8000-000000000000",
      resourceVersion: "1041",
      generation: 1,
    },
    spec: {
      resources: [{ apiVersion: "v1", resource: "namespaces" }],
      attachments: attachments.map((a) => ({ ...a, updateStrategy: { method: "InPlace" } })),
      hooks: { sync: webhook("/sync"), customize: webhook("/customize") },
    },
    status: {},
  };
}

export function namespace(
  name: string,
  annotations: Record<string, string> = {},
  labels: Record<string, string> = {},
): KubeObject {
  const metadata: KubeObject["metadata"] = {
    name,
    ...serverFields(),
    labels: { "kubernetes.io/metadata.name": name, ...labels },
  };
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata,
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
}

interface ObjectOptions {
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
}

/** Any namespaced object, with server fields, as the API server returns it. */
export function object(
  apiVersion: string,
  kind: string,
  ns: string,
  name: string,
  fields: Record<string, unknown>,
  opts: ObjectOptions = {},
): KubeObject {
  const metadata: KubeObject["metadata"] = { name, namespace: ns, ...serverFields() };
  if (opts.labels !== undefined) metadata.labels = opts.labels;
  if (opts.annotations !== undefined) metadata.annotations = opts.annotations;
  return { apiVersion, kind, metadata, ...fields };
}

/** Annotations that make an object a source for every `feature-*` namespace. */
export const toFeatures = { [REPLICATE_TO]: "feature-.*" };

export function service(
  ns: string,
  name: string,
  opts: ObjectOptions & { port?: number } = {},
): KubeObject {
  const port = opts.port ?? 8080;
  return object(
    "v1",
    "Service",
    ns,
    name,
    {
      spec: {
        type: "ClusterIP",
        selector: { "app.kubernetes.io/name": name },
        ports: [{ name: "http", protocol: "TCP", port, targetPort: port }],
      },
    },
    opts,
  );
}

export function secret(
  ns: string,
  name: string,
  type: string,
  data: Record<string, string>,
  opts: ObjectOptions = {},
): KubeObject {
  return object("v1", "Secret", ns, name, { type, data }, opts);
}

/** Recognisable key material for Secret data, and every form it could leak in. */
export interface SecretMarker {
  plain: string;
  /** A PEM block around `plain`, base64-encoded as Secret data holds it. */
  encoded: string;
  /**
   * Every run of 10 characters of its encodings that is this marker's own: a parser quoting a body
   * near an error cuts the value anywhere.
   */
  forms: string[];
}

/** A PEM block around `plain`, base64-encoded as Secret data holds it. */
function pemEncoded(plain: string): string {
  return Buffer.from(`-----BEGIN PRIVATE KEY-----\n${plain}\n-----END PRIVATE KEY-----\n`).toString(
    "base64",
  );
}

/** Runs of 10 characters of `text`. */
function windows(text: string): string[] {
  return Array.from({ length: text.length - 9 }, (_, i) => text.slice(i, i + 10));
}

/** Every form a value could leak in: itself, base64, and base64 inside a PEM block. */
function encodings(plain: string): string[] {
  return [plain, Buffer.from(plain).toString("base64"), pemEncoded(plain)];
}

export function secretMarker(label: string): SecretMarker {
  const plain = `KES-MARKER-${label}-do-not-log-7f3a9c`;
  // Runs every marker shares (the PEM frame, the common prefix and suffix, in each of base64's
  // three alignments) are not this one's: two markers in one test must tell their values apart.
  const shared = new Set(
    ["x", "xx", "xxx"]
      .flatMap((pad) => encodings(`KES-MARKER-${label}${pad}-do-not-log-7f3a9c`))
      .flatMap(windows),
  );
  const forms = encodings(plain)
    .flatMap(windows)
    .filter((form) => !shared.has(form));
  return { plain, encoded: pemEncoded(plain), forms };
}

/** Fails when any form of the marker's value appears in `text`. */
export function assertNoSecretData(text: string, where: string, marker: SecretMarker): void {
  for (const form of marker.forms) {
    if (text.includes(form)) {
      throw new Error(`secret data (${form}) appears in ${where}: ${text}`);
    }
  }
}

/**
 * An attachment as Metacontroller and the API server leave it after applying `desired`: server
 * fields, the owner reference and Metacontroller's annotations added.
 */
export function applied(desired: KubeObject, parent: KubeObject): KubeObject {
  const out = structuredClone(desired);
  out.metadata = {
    ...out.metadata,
    ...serverFields(),
    ownerReferences: [
      {
        apiVersion: "v1",
        kind: "Namespace",
        name: parent.metadata.name,
        uid: parent.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
    annotations: {
      ...(out.metadata.annotations ?? {}),
      "metacontroller.k8s.io/decorator-controller": CONTROLLER_NAME,
      "metacontroller.k8s.io/last-applied-configuration": JSON.stringify(desired),
    },
  };
  return out;
}

/** Objects keyed as the request maps hold them, with an empty group for every declared kind. */
function objectMap(
  attachments: readonly Attachment[],
  objects: readonly KubeObject[],
): Record<string, Record<string, KubeObject>> {
  const map: Record<string, Record<string, KubeObject>> = {};
  for (const a of attachments) map[groupKey(a.apiVersion, KIND_OF[a.resource] ?? "")] = {};
  for (const o of objects) {
    const key = groupKey(o.apiVersion, o.kind);
    const group = map[key];
    if (group === undefined) throw new Error(`builders: ${key} is not declared`);
    group[`${o.metadata.namespace}/${o.metadata.name}`] = o;
  }
  return map;
}

export interface SyncRequestParts {
  attachments: readonly Attachment[];
  parent: KubeObject;
  /** Our mirrors (and companions), as Metacontroller sends them; also added to `related`. */
  ours?: readonly KubeObject[];
  /** Every other object of a declared kind in the source namespaces and the parent namespace. */
  others?: readonly KubeObject[];
}

/** A sync request body exactly as Metacontroller sends it (hook version v1). */
export function syncRequest(parts: SyncRequestParts): Record<string, unknown> {
  const ours = parts.ours ?? [];
  return {
    controller: controller(parts.attachments),
    object: parts.parent,
    attachments: objectMap(parts.attachments, ours),
    related: objectMap(parts.attachments, [...(parts.others ?? []), ...ours]),
    finalizing: false,
  };
}
