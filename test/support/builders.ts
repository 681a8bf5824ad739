import { KINDS, splitApiVersion } from "../../lib/kinds/index.ts";
import type { KubeObject } from "../../lib/types.ts";

// The one set of builders: hook requests and the objects in them, in Metacontroller's exact shape
// (examples/sync-request.json), plus recognisable Secret data to prove it never leaks; shared by
// every test that builds requests in code, by the benches, and by the cluster suites, which write
// the objects through manifest(). Every builder takes the parts a test cares about and fills in
// the rest as a cluster would.

export const CONTROLLER_NAME = "kube-external-sync";
export const SOURCE_NAMESPACE = "develop";
export const PREFIX = "kube-external-sync.io/";
export const REPLICATE_TO = `${PREFIX}replicate-to`;
export const REPLICATED_FROM = `${PREFIX}replicated-from`;
export const LOCAL_BACKENDS = `${PREFIX}local-backends`;
export const STATUS = `${PREFIX}status`;
export const SKIP = `${PREFIX}skip`;
export const MANAGED_BY = "app.kubernetes.io/managed-by";

type Json = Record<string, unknown>;

/** A kind as the DecoratorController declares it. */
export interface KindRef {
  apiVersion: string;
  resource: string;
}

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
} as const satisfies Record<string, KindRef>;

export const SERVICES: KindRef = ATTACHMENTS.services;
export const INGRESSES: KindRef = ATTACHMENTS.ingresses;

/** The DecoratorController as Metacontroller sends it, declaring `kinds` (InPlace updates). */
export function controller(kinds: readonly KindRef[] = [SERVICES, INGRESSES]): Json {
  const webhook = (path: string) => ({
    service: { name: CONTROLLER_NAME, namespace: CONTROLLER_NAME, port: 80, protocol: "http" },
    path,
    timeout: "10s",
  });
  return {
    apiVersion: "metacontroller.k8s.io/v1alpha1",
    kind: "DecoratorController",
    metadata: {
      name: CONTROLLER_NAME,
      uid: "6f1c2a01-0000-4000-8000-000000000001",
      resourceVersion: "1041",
      generation: 1,
      creationTimestamp: "2026-11-20T09:00:00Z",
    },
    spec: {
      resources: [{ apiVersion: "v1", resource: "namespaces" }],
      attachments: kinds.map((k) => ({ ...k, updateStrategy: { method: "InPlace" } })),
      hooks: {
        sync: { version: "v1", webhook: webhook("/sync") },
        customize: { version: "v1", webhook: webhook("/customize") },
      },
    },
    status: {},
  };
}

/** The key of an object's group in a request map: `Kind.version` or `Kind.group/version`. */
export function groupKeyOf(object: { apiVersion: string; kind: string }): string {
  const { group, version } = splitApiVersion(object.apiVersion);
  return group === "" ? `${object.kind}.${version}` : `${object.kind}.${object.apiVersion}`;
}

/** The key of a declared kind's group (`Service.v1`, `Ingress.networking.k8s.io/v1`). */
export function groupKeyOfKind(kind: string, apiVersion: string): string {
  return groupKeyOf({ kind, apiVersion });
}

/** Objects in request-map form: by group key, then `namespace/name`. */
export function objectMap(
  objects: readonly KubeObject[],
  groups: readonly string[] = [],
): Record<string, Record<string, KubeObject>> {
  const map: Record<string, Record<string, KubeObject>> = {};
  for (const key of groups) map[key] = {};
  for (const object of objects) {
    const key = groupKeyOf(object);
    map[key] ??= {};
    map[key][`${object.metadata.namespace}/${object.metadata.name}`] = object;
  }
  return map;
}

export interface NamespaceOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
}

/** A Namespace as the API server returns it. */
export function namespace(name: string, opts: NamespaceOptions = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      uid: opts.uid ?? `uid-namespace-${name}`,
      resourceVersion: "3006",
      labels: { "kubernetes.io/metadata.name": name, ...opts.labels },
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
}

export interface ObjectOptions {
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Options of objects built field by field: no default labels. */
export interface PlainObjectOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

let serverFieldsCounter = 0;
/**
 * The fields the API server sets, distinct per object built, with a managedFields entry as every
 * cluster now writes one (never read, never copied to a mirror).
 */
function serverFields(): Record<string, unknown> {
  serverFieldsCounter++;
  const n = String(serverFieldsCounter);
  return {
    uid: `6f1c2a${n.padStart(2, "0")}-0000-4000-8000-${n.padStart(12, "0")}`,
    resourceVersion: String(2000 + serverFieldsCounter),
    creationTimestamp: "2026-11-20T09:05:00Z",
    generation: 1,
    managedFields: [
      { manager: "kubectl", operation: "Update", apiVersion: "v1", fieldsType: "FieldsV1" },
    ],
  };
}

/** Any namespaced object, with server fields, as the API server returns it. */
export function object(
  apiVersion: string,
  kind: string,
  ns: string,
  name: string,
  fields: Record<string, unknown>,
  opts: PlainObjectOptions = {},
): KubeObject {
  const metadata: KubeObject["metadata"] = { name, namespace: ns, ...serverFields() };
  if (opts.labels !== undefined) metadata.labels = opts.labels;
  if (opts.annotations !== undefined) metadata.annotations = opts.annotations;
  return { apiVersion, kind, metadata, ...fields };
}

/**
 * `built` as a client writes it, for the cluster tests: without what the API server sets (uid,
 * resourceVersion, creationTimestamp, status) or allocates (a Service's cluster IP).
 */
export function manifest(built: KubeObject): KubeObject {
  const out = structuredClone(built);
  delete out.status;
  delete out.metadata.uid;
  delete out.metadata.resourceVersion;
  delete out.metadata.creationTimestamp;
  delete out.metadata.generation;
  delete out.metadata.managedFields;
  if (typeof out.spec === "object" && out.spec !== null) delete (out.spec as Json).clusterIP;
  return out;
}

/** Annotations that make an object a source for every `feature-*` namespace. */
export const toFeatures = { [REPLICATE_TO]: "feature-.*" };

/** A Secret of `type` with `data` (base64 values, as the API server stores them). */
export function secret(
  ns: string,
  name: string,
  type: string,
  data: Record<string, string>,
  opts: PlainObjectOptions = {},
): KubeObject {
  return object("v1", "Secret", ns, name, { type, data }, opts);
}

/** `object` with what the API server fills in: a Service's defaults, and a status. */
function withServerDefaults(object: KubeObject): KubeObject {
  if (object.kind === "Service") {
    const spec = (object.spec ?? {}) as Json;
    spec.sessionAffinity ??= "None";
    spec.internalTrafficPolicy ??= "Cluster";
    if (Array.isArray(spec.ports)) {
      spec.ports = (spec.ports as Json[]).map((p) => ({
        ...p,
        protocol: p.protocol ?? "TCP",
        targetPort: p.targetPort ?? p.port,
      }));
    }
    object.spec = spec;
  }
  if (object.kind === "Service" || object.kind === "Ingress") object.status = { loadBalancer: {} };
  return object;
}

/**
 * An attachment as Metacontroller and the API server leave it after applying `desired`: server
 * fields and defaults, the owner reference and Metacontroller's annotations added.
 */
export function applied(desired: KubeObject, parent: KubeObject): KubeObject {
  const out = withServerDefaults(structuredClone(desired));
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

function metadataOf(name: string, opts: ObjectOptions): KubeObject["metadata"] {
  const ns = opts.namespace ?? SOURCE_NAMESPACE;
  return {
    name,
    namespace: ns,
    uid: `uid-${ns}-${name}`,
    resourceVersion: "2002",
    labels: opts.labels ?? { "app.kubernetes.io/name": name },
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
}

/** A ClusterIP Service with one HTTP port: 80 to 8080, or `port` to itself. */
export function service(name: string, opts: ObjectOptions & { port?: number } = {}): KubeObject {
  const port = opts.port ?? 80;
  const targetPort = opts.port ?? 8080;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: metadataOf(name, opts),
    spec: {
      type: "ClusterIP",
      selector: { app: name },
      ports: [{ name: "http", protocol: "TCP", port, targetPort }],
      clusterIP: "10.96.0.10",
      sessionAffinity: "None",
    },
    status: { loadBalancer: {} },
  };
}

/** An Ingress with one rule per host, each routing `/` to Service `web`; `tls` as given. */
export function ingress(
  name: string,
  opts: ObjectOptions & {
    hosts?: readonly string[];
    tls?: readonly { hosts: readonly string[]; secretName: string }[];
  } = {},
): KubeObject {
  const hosts = opts.hosts ?? [`${SOURCE_NAMESPACE}.example.com`];
  const tls = opts.tls === undefined ? {} : { tls: opts.tls };
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: metadataOf(name, opts),
    spec: {
      ingressClassName: "traefik",
      rules: hosts.map((host) => ({
        host,
        http: {
          paths: [
            {
              path: "/",
              pathType: "Prefix",
              backend: { service: { name: "web", port: { number: 80 } } },
            },
          ],
        },
      })),
      ...tls,
    },
    status: { loadBalancer: {} },
  };
}

/** A Gateway API HTTPRoute under Gateway `gateway`, serving `hostnames` by `rules`. */
export function httpRoute(
  name: string,
  opts: ObjectOptions & {
    /** The Gateway's name, or its name and namespace; default `gateway`. */
    gateway?: string | { name: string; namespace: string };
    hostnames?: readonly string[];
    /** Default: every request to Service `web` on port 80. */
    rules?: readonly Json[];
  } = {},
): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: metadataOf(name, opts),
    spec: {
      parentRefs: [
        typeof opts.gateway === "object" ? opts.gateway : { name: opts.gateway ?? "gateway" },
      ],
      hostnames: opts.hostnames ?? [`${SOURCE_NAMESPACE}.example.com`],
      rules: opts.rules ?? [{ backendRefs: [{ name: "web", port: 80 }] }],
    },
  };
}

/** A Traefik API group: traefik.io (v3) or traefik.containo.us (v2). */
export type TraefikGroup = "traefik.io" | "traefik.containo.us";

/** A Traefik IngressRoute on `entryPoints` with `routes` (default: `develop.example.com` to `web`). */
export function ingressRoute(
  name: string,
  opts: ObjectOptions & {
    group?: TraefikGroup;
    entryPoints?: readonly string[];
    routes?: readonly Json[];
  } = {},
): KubeObject {
  return {
    apiVersion: `${opts.group ?? "traefik.io"}/v1alpha1`,
    kind: "IngressRoute",
    metadata: metadataOf(name, opts),
    spec: {
      entryPoints: opts.entryPoints ?? ["websecure"],
      routes: opts.routes ?? [
        {
          kind: "Rule",
          match: `Host(\`${SOURCE_NAMESPACE}.example.com\`)`,
          services: [{ name: "web", port: 80 }],
        },
      ],
    },
  };
}

/** A Traefik Middleware with `spec`. */
export function middleware(
  name: string,
  spec: Json,
  opts: ObjectOptions & { group?: TraefikGroup } = {},
): KubeObject {
  return {
    apiVersion: `${opts.group ?? "traefik.io"}/v1alpha1`,
    kind: "Middleware",
    metadata: metadataOf(name, opts),
    spec,
  };
}

export interface SyncRequestOptions {
  /** The parent namespace; default `feature-a`. */
  namespace?: KubeObject;
  controller?: Json;
  /** Objects the customize hook asked for (sources, and objects in the namespace). */
  related?: readonly KubeObject[];
  /** Our mirrors observed in the namespace. */
  attachments?: readonly KubeObject[];
}

/**
 * A sync request (hook version v1): every kind the controller declares gets a group in
 * `related` and `attachments`, empty or not, as Metacontroller sends them.
 */
export function syncRequest(opts: SyncRequestOptions = {}): Json {
  const ctrl = opts.controller ?? controller();
  const declared = (ctrl.spec as { attachments: KindRef[] }).attachments;
  const groups = declared.map((rule) => groupKeyOfRule(rule));
  return {
    controller: ctrl,
    object: opts.namespace ?? namespace("feature-a"),
    attachments: objectMap(opts.attachments ?? [], groups),
    related: objectMap(opts.related ?? [], groups),
    finalizing: false,
  };
}

function groupKeyOfRule(rule: KindRef): string {
  const { group } = splitApiVersion(rule.apiVersion);
  const kind = KINDS.find((k) => k.group === group && k.resource === rule.resource);
  if (kind === undefined) throw new Error(`no kind module for ${rule.apiVersion} ${rule.resource}`);
  return groupKeyOfKind(kind.kind, rule.apiVersion);
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

/**
 * Key material made elsewhere (a real private key, base64 as Secret data holds it) as a marker:
 * every run of 10 characters of its base64 and of its decoded text is one of its forms.
 */
export function valueMarker(encoded: string): SecretMarker {
  const plain = Buffer.from(encoded, "base64").toString("utf8");
  return { plain, encoded, forms: [...windows(encoded), ...windows(plain)] };
}

/** Fails when any form of the marker's value appears in `text`. */
export function assertNoSecretData(text: string, where: string, marker: SecretMarker): void {
  for (const form of marker.forms) {
    if (text.includes(form)) {
      throw new Error(`secret data (${form}) appears in ${where}: ${text}`);
    }
  }
}
