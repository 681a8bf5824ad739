import type { KubeObject } from "../lib/types.ts";
import {
  controller,
  INGRESSES,
  namespace,
  SERVICES,
  syncRequest,
} from "../test/support/builders.ts";

// Sync requests for the bench, built with the shared builders (test/support/builders.ts) from
// realistic objects: labels, a kubectl last-applied-configuration annotation, managedFields,
// server-set fields. A seeded generator keeps bodies identical from run to run.

const TARGET = "feature-checkout-2417";
const SOURCE_NS = "develop";

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

/**
 * What `kubectl apply` (client side) adds to the metadata of `applied`: the last-applied
 * annotation, and a managedFields entry owning it, the labels and `specFields`.
 */
function appliedByKubectl(
  applied: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } },
  specFields: Json,
  time: string,
): { annotations: Record<string, string>; managedFields: Json[] } {
  const { labels } = applied.metadata;
  return {
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
        "f:spec": specFields,
      },
      time,
    ),
  };
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
      ...appliedByKubectl(
        applied,
        {
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
      ...appliedByKubectl(
        applied,
        { "f:ingressClassName": {}, "f:rules": {}, "f:tls": {} },
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

export interface Workload {
  body: string;
  /** Mirrors the answer must hold. */
  expected: number;
}

export function buildRequest(sources: number): Workload {
  const parentUid = uid();
  const parent = namespace(TARGET, {
    uid: parentUid,
    labels: { "kube-external-sync.io/branch": "true", "kube-external-sync.io/state": "Synced" },
  });

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

  // The target namespace: a few dozen objects. Mirrors from an earlier sync are ours (in
  // attachments, and in related since customize asks for the namespace itself); the rest are not.
  const ours = [
    ...services.slice(0, Math.min(15, serviceCount)),
    ...ingresses.slice(0, Math.min(4, ingressCount)),
  ].map((source) => observedMirror(source, parentUid));
  // Unmanaged objects: most with their own names, two taking a source's name (conflicts).
  const taken = serviceNames.slice(Math.min(15, serviceCount), Math.min(15, serviceCount) + 2);
  const unmanagedObjects = [
    ...Array.from({ length: 18 }, (_, i) => unmanaged("Service", `local-svc-${i}`, i)),
    ...Array.from({ length: 4 }, (_, i) => unmanaged("Ingress", `local-ing-${i}`, i)),
    ...taken.map((name) => unmanaged("Service", name, 7)),
  ];

  const request = syncRequest({
    controller: controller([SERVICES, INGRESSES]),
    namespace: parent,
    attachments: ours as unknown as KubeObject[],
    related: [...services, ...ingresses, ...ours, ...unmanagedObjects] as unknown as KubeObject[],
  });
  return { body: JSON.stringify(request), expected: sources - taken.length };
}
