import { KINDS, splitApiVersion } from "../../lib/kinds/index.ts";
import type { KubeObject } from "../../lib/types.ts";

// Builders of hook requests and the objects in them, in Metacontroller's exact shape
// (examples/sync-request.json), shared by the unit, property and adversarial tests and the bench.
// Every builder takes the parts a test cares about and fills in the rest as a cluster would.

export const CONTROLLER_NAME = "kube-external-sync";
export const SOURCE_NAMESPACE = "develop";
export const PREFIX = "kube-external-sync.io/";

type Json = Record<string, unknown>;

/** A kind as the DecoratorController declares it. */
export interface KindRef {
  apiVersion: string;
  resource: string;
}

export const SERVICES: KindRef = { apiVersion: "v1", resource: "services" };
export const INGRESSES: KindRef = { apiVersion: "networking.k8s.io/v1", resource: "ingresses" };

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

/** A ClusterIP Service with one HTTP port. */
export function service(name: string, opts: ObjectOptions = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: metadataOf(name, opts),
    spec: {
      type: "ClusterIP",
      selector: { app: name },
      ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080 }],
      clusterIP: "10.96.0.10",
      sessionAffinity: "None",
    },
    status: { loadBalancer: {} },
  };
}

/** An Ingress with one rule per host, each routing `/` to Service `web`. */
export function ingress(
  name: string,
  opts: ObjectOptions & { hosts?: readonly string[] } = {},
): KubeObject {
  const hosts = opts.hosts ?? [`${SOURCE_NAMESPACE}.example.com`];
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
    },
    status: { loadBalancer: {} },
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
