// End to end for the route kinds: Metacontroller runs the package's DecoratorController with the
// `traefik`, `traefik-v2` and `gateway-api` components (webhooks pointed at a real hook server
// process), on a control plane serving the real Traefik v3, Traefik v2 and Gateway API CRDs.
// IngressRoute mirrors of both Traefik groups, Middleware mirrors (traefikMiddlewares: local) and
// HTTPRoute mirrors with their ReferenceGrant in the source namespace appear, follow their sources
// and disappear with them.
//
//   node test/run.ts "test/cluster/routes-e2e.test.ts" --serial

import assert from "node:assert/strict";
import { test } from "node:test";
import { MANAGED_BY_VALUE } from "../../lib/constants.ts";
import {
  httpRoute as httpRouteObject,
  ingressRoute as ingressRouteObject,
  MANAGED_BY,
  REPLICATE_TO,
} from "../support/builders.ts";
import { ensureRouteCRDs } from "./build.ts";
import { controlPlaneForTests } from "./control-plane.ts";
import { KubeClient, type KubeObject, resourcePath } from "./kube.ts";
import type { Metacontroller } from "./metacontroller.ts";
import { startMirroring } from "./mirroring.ts";
import { waitFor } from "./processes.ts";

const SOURCE_NS = "rt-src";
const TARGET_NS = "rt-a";
const REPLICATE = { [REPLICATE_TO]: "rt-.*" };
const CONVERGE_MS = 90_000;
const GRANT = `kube-external-sync-${TARGET_NS}`;

let client: KubeClient;
let metacontroller: Metacontroller;

controlPlaneForTests(async (cp) => {
  client = new KubeClient(cp);
  // The attachment kinds must be served before Metacontroller starts the controller.
  const crds = await ensureRouteCRDs({ log: (l) => console.log(l) });
  ({ metacontroller } = await startMirroring(cp, {
    config: {
      sourceNamespaces: [SOURCE_NS],
      defaultTopLevelDomain: "*.example.com",
      traefikMiddlewares: "local",
      gatewayBackends: "source",
    },
    components: ["traefik", "traefik-v2", "gateway-api"],
    crds: [...crds.traefik, ...crds.traefikV2, ...crds.gatewayApi],
    namespaces: [SOURCE_NS, TARGET_NS],
  }));
});

// ---------------------------------------------------------------------------------------------

interface Ref {
  apiVersion: string;
  resource: string;
  kind: string;
}

const TRAEFIK_IO = "traefik.io/v1alpha1";
const CONTAINO_US = "traefik.containo.us/v1alpha1";
const GATEWAY = "gateway.networking.k8s.io/v1";
const REF = {
  ingressRoute: { apiVersion: TRAEFIK_IO, resource: "ingressroutes", kind: "IngressRoute" },
  middleware: { apiVersion: TRAEFIK_IO, resource: "middlewares", kind: "Middleware" },
  ingressRouteV2: { apiVersion: CONTAINO_US, resource: "ingressroutes", kind: "IngressRoute" },
  middlewareV2: { apiVersion: CONTAINO_US, resource: "middlewares", kind: "Middleware" },
  httpRoute: { apiVersion: GATEWAY, resource: "httproutes", kind: "HTTPRoute" },
  referenceGrant: {
    apiVersion: "gateway.networking.k8s.io/v1beta1",
    resource: "referencegrants",
    kind: "ReferenceGrant",
  },
} satisfies Record<string, Ref>;

function pathOf(ref: Ref, namespace: string, name?: string): string {
  return resourcePath(ref.apiVersion, ref.resource, namespace, name);
}

async function getMaybe(apiPath: string): Promise<KubeObject | undefined> {
  const r = await client.request("GET", apiPath);
  if (r.status === 404) return undefined;
  assert.equal(r.status, 200, `GET ${apiPath}: ${JSON.stringify(r.body)}`);
  return r.body as unknown as KubeObject;
}

async function create(ref: Ref, name: string, spec: unknown): Promise<void> {
  const obj = {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name, namespace: SOURCE_NS, annotations: REPLICATE },
    spec,
  };
  const r = await client.request("POST", pathOf(ref, SOURCE_NS), obj);
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

async function patchSpec(ref: Ref, name: string, spec: unknown): Promise<void> {
  const r = await client.request(
    "PATCH",
    pathOf(ref, SOURCE_NS, name),
    { spec },
    "application/merge-patch+json",
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

/** Waits until the managed object exists and satisfies `ok`. */
function mirror(
  ref: Ref,
  namespace: string,
  name: string,
  ok: (spec: Record<string, unknown>) => boolean,
): Promise<KubeObject> {
  return waitFor(
    `${ref.kind} ${ref.apiVersion} mirror ${namespace}/${name}`,
    CONVERGE_MS,
    async () => {
      const obj = await getMaybe(pathOf(ref, namespace, name));
      const managed = obj?.metadata.labels?.[MANAGED_BY] === MANAGED_BY_VALUE;
      return obj && managed && ok(obj.spec as Record<string, unknown>) ? obj : undefined;
    },
    [metacontroller.process],
  );
}

function gone(ref: Ref, namespace: string, name: string): Promise<true> {
  return waitFor(
    `${ref.kind} ${ref.apiVersion} ${namespace}/${name} to be deleted`,
    CONVERGE_MS,
    async () => ((await getMaybe(pathOf(ref, namespace, name))) ? undefined : true),
    [metacontroller.process],
  );
}

interface RouteSpec {
  routes: { match: string; middlewares?: { name: string; namespace?: string }[] }[];
}
interface HTTPRouteSpec {
  hostnames: string[];
  rules: { backendRefs: { name: string; namespace?: string }[] }[];
}
interface GrantSpec {
  from: { namespace: string }[];
  to: { name?: string }[];
}

/** The spec of an IngressRoute from the shared builders, serving `host` by `web` through `middleware`. */
function traefikRoute(host: string, middleware: string) {
  return ingressRouteObject("shop", {
    routes: [
      {
        kind: "Rule",
        match: `Host(\`${host}\`) && PathPrefix(\`/shop\`)`,
        middlewares: [{ name: middleware }],
        services: [{ name: "web", port: 80 }],
      },
    ],
  }).spec as Record<string, unknown>;
}

/** The spec of an HTTPRoute from the shared builders, serving `host` by Service `api`. */
function httpRoute(host: string) {
  return httpRouteObject("api", {
    hostnames: [host],
    rules: [{ backendRefs: [{ name: "api", port: 80 }] }],
  }).spec as Record<string, unknown>;
}

const matchOf = (spec: Record<string, unknown>) => (spec as unknown as RouteSpec).routes[0]?.match;
const prefixesOf = (spec: Record<string, unknown>) =>
  (spec as { stripPrefix?: { prefixes?: string[] } }).stripPrefix?.prefixes ?? [];

test("IngressRoutes of both Traefik groups, local Middlewares and HTTPRoutes with their ReferenceGrant appear, update and disappear with their sources", {
  timeout: 10 * 60_000,
}, async () => {
  await create(REF.middleware, "strip", { stripPrefix: { prefixes: ["/shop"] } });
  await create(REF.middlewareV2, "strip-v2", { stripPrefix: { prefixes: ["/shop"] } });
  await create(REF.ingressRoute, "shop", traefikRoute("shop.rt-src.example.com", "strip"));
  await create(REF.ingressRouteV2, "legacy", traefikRoute("legacy.rt-src.example.com", "strip-v2"));
  await create(REF.httpRoute, "api", httpRoute("api.rt-src.example.com"));

  // Appear.
  const shop = await mirror(REF.ingressRoute, TARGET_NS, "shop", (s) =>
    (matchOf(s) ?? "").includes("Host(`shop.rt-a.example.com`)"),
  );
  assert.deepEqual((shop.spec as unknown as RouteSpec).routes[0]?.middlewares, [{ name: "strip" }]);
  await mirror(REF.ingressRouteV2, TARGET_NS, "legacy", (s) =>
    (matchOf(s) ?? "").includes("Host(`legacy.rt-a.example.com`)"),
  );
  await mirror(REF.middleware, TARGET_NS, "strip", (s) => prefixesOf(s)[0] === "/shop");
  await mirror(REF.middlewareV2, TARGET_NS, "strip-v2", (s) => prefixesOf(s)[0] === "/shop");
  const route = await mirror(REF.httpRoute, TARGET_NS, "api", (s) =>
    (s as unknown as HTTPRouteSpec).hostnames.includes("api.rt-a.example.com"),
  );
  assert.deepEqual(
    (route.spec as unknown as HTTPRouteSpec).rules[0]?.backendRefs.map((b) => [
      b.name,
      b.namespace,
    ]),
    [["api", SOURCE_NS]],
  );
  const grant = await mirror(REF.referenceGrant, SOURCE_NS, GRANT, () => true);
  const grantSpec = grant.spec as unknown as GrantSpec;
  assert.deepEqual(
    grantSpec.from.map((f) => f.namespace),
    [TARGET_NS],
  );
  assert.deepEqual(
    grantSpec.to.map((t) => t.name),
    ["api"],
  );

  // Update.
  await patchSpec(REF.ingressRoute, "shop", traefikRoute("store.rt-src.example.com", "strip"));
  await patchSpec(REF.ingressRouteV2, "legacy", traefikRoute("old.rt-src.example.com", "strip-v2"));
  await patchSpec(REF.middleware, "strip", { stripPrefix: { prefixes: ["/store"] } });
  await patchSpec(REF.middlewareV2, "strip-v2", { stripPrefix: { prefixes: ["/old"] } });
  await patchSpec(REF.httpRoute, "api", { hostnames: ["v2.rt-src.example.com"] });
  await mirror(REF.ingressRoute, TARGET_NS, "shop", (s) =>
    (matchOf(s) ?? "").includes("Host(`store.rt-a.example.com`)"),
  );
  await mirror(REF.ingressRouteV2, TARGET_NS, "legacy", (s) =>
    (matchOf(s) ?? "").includes("Host(`old.rt-a.example.com`)"),
  );
  await mirror(REF.middleware, TARGET_NS, "strip", (s) => prefixesOf(s)[0] === "/store");
  await mirror(REF.middlewareV2, TARGET_NS, "strip-v2", (s) => prefixesOf(s)[0] === "/old");
  await mirror(REF.httpRoute, TARGET_NS, "api", (s) => {
    const hostnames = (s as unknown as HTTPRouteSpec).hostnames;
    return hostnames.length === 1 && hostnames[0] === "v2.rt-a.example.com";
  });

  // Disappear: the HTTPRoute's source goes, and with its mirror the ReferenceGrant.
  for (const [ref, name] of [
    [REF.ingressRoute, "shop"],
    [REF.ingressRouteV2, "legacy"],
    [REF.middleware, "strip"],
    [REF.middlewareV2, "strip-v2"],
    [REF.httpRoute, "api"],
  ] as const) {
    const r = await client.request("DELETE", pathOf(ref, SOURCE_NS, name));
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  await gone(REF.ingressRoute, TARGET_NS, "shop");
  await gone(REF.ingressRouteV2, TARGET_NS, "legacy");
  await gone(REF.middleware, TARGET_NS, "strip");
  await gone(REF.middlewareV2, TARGET_NS, "strip-v2");
  await gone(REF.httpRoute, TARGET_NS, "api");
  await gone(REF.referenceGrant, SOURCE_NS, GRANT);
});
