// The route kinds against a real control plane: Traefik IngressRoutes and Middlewares (traefik.io
// and Traefik v2's traefik.containo.us) and Gateway API HTTPRoutes with their ReferenceGrant
// companions, validated by an API server that serves the real CRDs (gathered by build.ts from the
// pinned Traefik v3 and Gateway API modules and Traefik v2's CRD file) and Metacontroller's.
//
// What this validates: that the package with the `traefik`, `traefik-v2` and `gateway-api`
// components renders the DecoratorController with the route attachments and is accepted by the API
// server; that the hook, asked by a real hook server process with requests built from live objects
// in Metacontroller's v1 shape (customize, then sync), answers with route mirrors and
// ReferenceGrants the API server accepts under the CRDs' schemas and CEL rules (server-side dry
// run, strict field validation); and the conflict rule against real unmanaged routes.
// Metacontroller applying route mirrors is in routes-e2e.test.ts. Nothing here serves traffic:
// neither Traefik nor a Gateway implementation runs.
//
//   node test/run.ts "test/cluster/routes.test.ts" --serial

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { loadAll } from "js-yaml";
import {
  groupKeyOfKind,
  httpRoute,
  ingressRoute,
  manifest,
  middleware,
  REPLICATED_FROM,
  toFeatures,
} from "../support/builders.ts";
import { ensureRouteCRDs, REPO_ROOT, type RouteCRDs } from "./build.ts";
import { applyCRDs, controlPlaneForTests } from "./control-plane.ts";
import {
  applyExampleSources,
  assertAccepted,
  assertPackageDryRun,
  assertReadBack,
  customize,
  sync as postSync,
} from "./hook-requests.ts";
import { type HookServer, startHookServer } from "./hook-server.ts";
import {
  type Json,
  KubeClient,
  type KubeObject,
  resourcePath,
  type SyncRequest,
  type SyncResponse,
  sortedByKey,
} from "./kube.ts";
import { installMetacontrollerCRDs, renderPackage, withOverlay } from "./metacontroller.ts";
import { waitFor } from "./processes.ts";

const NS = "kube-external-sync";

let client: KubeClient;
let crds: RouteCRDs;
/** Names of the installed CRDs (`<plural>.<group>`). */
let crdNames: string[] = [];

const { plane, kubectl } = controlPlaneForTests(async (cp) => {
  client = new KubeClient(cp);
  crds = await ensureRouteCRDs({ log: (l) => console.log(l) });
  await installMetacontrollerCRDs(cp);
  crdNames = await applyCRDs(cp, [...crds.traefik, ...crds.traefikV2, ...crds.gatewayApi]);
});

// ---------------------------------------------------------------------------------------------
// Discovery: kinds and resources as the API server serves them (what Metacontroller resolves).

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

const discovered = new Map<string, ApiResource[]>();

async function resourcesOf(apiVersion: string): Promise<ApiResource[]> {
  const cached = discovered.get(apiVersion);
  if (cached) return cached;
  const p = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const list = (await client.get(p)) as unknown as { resources: ApiResource[] };
  const top = list.resources.filter((r) => !r.name.includes("/"));
  discovered.set(apiVersion, top);
  return top;
}

async function kindOfResource(apiVersion: string, resource: string): Promise<string> {
  const r = (await resourcesOf(apiVersion)).find((x) => x.name === resource);
  assert.ok(r, `${apiVersion} ${resource} is served`);
  return r.kind;
}

async function resourceOfKind(apiVersion: string, kind: string): Promise<string> {
  const r = (await resourcesOf(apiVersion)).find((x) => x.kind === kind);
  assert.ok(r, `${apiVersion} ${kind} is served`);
  return r.name;
}

/**
 * The objects of one resource in one namespace as the API server lists them, with apiVersion and
 * kind filled in. A 429 is retried like client-go (and so Metacontroller) does: right after a CRD
 * is established, its watch cache may still be initializing and lists answer 429 with Retry-After.
 */
async function list(apiVersion: string, resource: string, namespace: string) {
  const kind = await kindOfResource(apiVersion, resource);
  const p = resourcePath(apiVersion, resource, namespace);
  const body = await waitFor(`a list of ${resource} in ${namespace}`, 60_000, async () => {
    const r = await client.request("GET", p);
    if (r.status === 429) return undefined;
    if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as { items?: KubeObject[] };
  });
  return (body.items ?? []).map((o) => ({ apiVersion, kind, ...(o as object) }) as KubeObject);
}

/** Create with dryRun=All and strict field validation, for any served kind. */
async function dryRunCreate(obj: KubeObject) {
  const resource = await resourceOfKind(obj.apiVersion, obj.kind);
  const p = resourcePath(obj.apiVersion, resource, obj.metadata.namespace);
  return client.request("POST", `${p}?dryRun=All&fieldValidation=Strict`, obj);
}

// ---------------------------------------------------------------------------------------------
// Overlays of the package with components

interface Rendered extends KubeObject {
  spec?: { [k: string]: Json };
}

interface Attachment {
  apiVersion: string;
  resource: string;
  updateStrategy: { method: string };
}

function render(components: string[]): Promise<Rendered[]> {
  return renderPackage(plane(), components) as Promise<Rendered[]>;
}

function decoratorController(docs: Rendered[]): Rendered {
  const found = docs.filter((d) => d.kind === "DecoratorController");
  assert.equal(found.length, 1);
  return found[0] as Rendered;
}

function attachmentsOf(dc: Rendered): Attachment[] {
  return (dc.spec as unknown as { attachments: Attachment[] }).attachments;
}

const BASE_ATTACHMENTS = [
  { apiVersion: "v1", resource: "services" },
  { apiVersion: "networking.k8s.io/v1", resource: "ingresses" },
];
const COMPONENT_ATTACHMENTS: Record<string, { apiVersion: string; resource: string }[]> = {
  traefik: [
    { apiVersion: "traefik.io/v1alpha1", resource: "ingressroutes" },
    { apiVersion: "traefik.io/v1alpha1", resource: "middlewares" },
    { apiVersion: "traefik.io/v1alpha1", resource: "ingressroutetcps" },
    { apiVersion: "traefik.io/v1alpha1", resource: "middlewaretcps" },
  ],
  "traefik-v2": [
    { apiVersion: "traefik.containo.us/v1alpha1", resource: "ingressroutes" },
    { apiVersion: "traefik.containo.us/v1alpha1", resource: "middlewares" },
    { apiVersion: "traefik.containo.us/v1alpha1", resource: "ingressroutetcps" },
    { apiVersion: "traefik.containo.us/v1alpha1", resource: "middlewaretcps" },
  ],
  "gateway-api": [
    { apiVersion: "gateway.networking.k8s.io/v1", resource: "httproutes" },
    { apiVersion: "gateway.networking.k8s.io/v1beta1", resource: "referencegrants" },
  ],
  "tls-secrets": [{ apiVersion: "v1", resource: "secrets" }],
};

describe("metacontroller/components", () => {
  test("each component appends its attachments (InPlace) and changes nothing else", async () => {
    const plain = await render([]);
    const cases = [
      ["traefik"],
      ["traefik-v2"],
      ["gateway-api"],
      ["traefik", "gateway-api"],
      ["traefik", "traefik-v2", "gateway-api"],
      ["tls-secrets"],
      ["traefik", "gateway-api", "tls-secrets"],
    ];
    for (const components of cases) {
      const docs = await render(components);
      const want = [
        ...BASE_ATTACHMENTS,
        ...components.flatMap((c) => COMPONENT_ATTACHMENTS[c] ?? []),
      ];
      assert.deepEqual(
        attachmentsOf(decoratorController(docs)),
        want.map((a) => ({ ...a, updateStrategy: { method: "InPlace" } })),
        components.join(", "),
      );
      // Everything else is the plain package, byte for byte.
      const strip = (list: Rendered[]) =>
        list.map((d) =>
          d.kind === "DecoratorController" ? { ...d, spec: { ...d.spec, attachments: null } } : d,
        );
      assert.deepEqual(strip(docs), strip(plain), components.join(", "));
    }
  });

  test("the CRDs are served: traefik.io, traefik.containo.us, HTTPRoute v1, ReferenceGrant v1beta1", async () => {
    assert.equal(crds.traefik.length, 1);
    assert.equal(crds.traefikV2.length, 1);
    assert.equal(crds.gatewayApi.length, 4);
    for (const name of [
      "ingressroutes.traefik.io",
      "middlewares.traefik.io",
      "ingressroutes.traefik.containo.us",
      "middlewares.traefik.containo.us",
      "httproutes.gateway.networking.k8s.io",
      "referencegrants.gateway.networking.k8s.io",
      "gateways.gateway.networking.k8s.io",
      "gatewayclasses.gateway.networking.k8s.io",
    ]) {
      assert.ok(crdNames.includes(name), `${name} installed`);
    }
    // Only Traefik v2's own group comes from its file: traefik.io is Traefik v3's.
    const v2Docs = loadAll(await readFile(crds.traefikV2[0] ?? "", "utf8")) as {
      spec: { group: string };
    }[];
    assert.equal(v2Docs.length, 9);
    assert.ok(v2Docs.every((d) => d.spec.group === "traefik.containo.us"));
    for (const attachments of Object.values(COMPONENT_ATTACHMENTS)) {
      for (const a of attachments) {
        const r = (await resourcesOf(a.apiVersion)).find((x) => x.name === a.resource);
        assert.ok(r?.namespaced, `${a.apiVersion} ${a.resource} is served and namespaced`);
      }
    }
  });

  test("with traefik, traefik-v2 and gateway-api, the API server accepts every object, the DecoratorController included", async () => {
    const components = ["traefik", "traefik-v2", "gateway-api"];
    const docs = await render(components);
    const namespace = docs.find((d) => d.kind === "Namespace");
    assert.ok(namespace);
    assert.equal(namespace.metadata.name, NS);
    await withOverlay(components, (dir) => assertPackageDryRun(plane(), dir, docs, namespace));
  });
});

// ---------------------------------------------------------------------------------------------
// Hook answers

interface IngressRouteSpec {
  entryPoints: string[];
  routes: {
    match: string;
    kind?: string;
    middlewares?: { name: string; namespace?: string }[];
    services: { name: string; port: number; namespace?: string }[];
  }[];
  tls?: { secretName?: string; domains?: { main: string; sans?: string[] }[] };
}
interface RefView {
  name: string;
  namespace?: string;
  sectionName?: string;
  port?: number;
  group?: string;
  kind?: string;
}
interface HTTPRouteSpec {
  parentRefs: RefView[];
  hostnames: string[];
  rules: { matches?: { path?: { type: string; value: string } }[]; backendRefs: RefView[] }[];
}
interface ReferenceGrantSpec {
  from: { group: string; kind: string; namespace: string }[];
  to: { group: string; kind: string; name?: string }[];
}

describe("hook answers for live route objects", () => {
  /** The DecoratorController of the package with the traefik and gateway-api components. */
  let controller: Rendered;
  /** examples/config.yaml, the route switches at their defaults: traefikMiddlewares
   * crossNamespace, gatewayBackends source. */
  let hookDefault: HookServer | undefined;
  /** examples/config-routes.yaml: traefikMiddlewares local, gatewayBackends local. */
  let hookSwitches: HookServer | undefined;

  before(async () => {
    const c = plane();
    // The sources (and their namespaces) of the Service/Ingress examples, then the route sources:
    // the routes reference develop.yaml's Services.
    const applied = await applyExampleSources(c);
    assert.equal(applied.code, 0, applied.stderr);
    const routes = await kubectl("apply", "-f", "examples/routes.yaml");
    assert.equal(routes.code, 0, routes.stderr);
    controller = decoratorController(await render(["traefik", "gateway-api"]));
    [hookDefault, hookSwitches] = await Promise.all([
      startHookServer({
        kubeconfig: c.kubeconfigPath,
        configFile: path.join(REPO_ROOT, "examples", "config.yaml"),
      }),
      startHookServer({
        kubeconfig: c.kubeconfigPath,
        configFile: path.join(REPO_ROOT, "examples", "config-routes.yaml"),
      }),
    ]);
  });

  after(async () => {
    await Promise.all([hookDefault?.stop(), hookSwitches?.stop()]);
  });

  /**
   * Metacontroller's two calls for one namespace: customize (which objects to send), then sync in
   * hook version v1, with `related` holding exactly the objects the customize rules select (read
   * from the API server, kinds resolved by discovery, `names` honoured) and `attachments` empty
   * for every declared kind: no Metacontroller runs in this file, so nothing was ever applied.
   */
  async function sync(hook: HookServer | undefined, namespace: string, dc: Rendered = controller) {
    assert.ok(hook);
    const { parent, rules } = await customize(client, hook, dc as unknown as Json, namespace);

    const attachments: SyncRequest["attachments"] = {};
    for (const a of attachmentsOf(dc)) {
      attachments[groupKeyOfKind(await kindOfResource(a.apiVersion, a.resource), a.apiVersion)] =
        {};
    }
    const grouped = new Map<string, Map<string, KubeObject>>();
    for (const rule of rules) {
      assert.equal(rule.labelSelector, undefined, "the example configs set no sourceSelector");
      const kind = await kindOfResource(rule.apiVersion, rule.resource);
      const byName =
        grouped.get(groupKeyOfKind(kind, rule.apiVersion)) ?? new Map<string, KubeObject>();
      for (const o of await list(rule.apiVersion, rule.resource, rule.namespace)) {
        if (rule.names !== undefined && !rule.names.includes(o.metadata.name)) continue;
        byName.set(`${rule.namespace}/${o.metadata.name}`, o);
      }
      grouped.set(groupKeyOfKind(kind, rule.apiVersion), byName);
    }
    const related: SyncRequest["related"] = sortedByKey(
      [...grouped].map(([k, v]) => [k, sortedByKey(v)]),
    );
    const request: SyncRequest = {
      controller: dc as unknown as Json,
      object: parent,
      attachments,
      related,
      finalizing: false,
    };
    return { rules, request, ...(await postSync(hook, request)) };
  }

  function find(answer: SyncResponse, kind: string, name: string): KubeObject | undefined {
    return answer.attachments.find((a) => a.kind === kind && a.metadata.name === name);
  }

  function ids(answer: SyncResponse): string[] {
    return answer.attachments
      .map((a) => `${a.kind} ${a.metadata.namespace}/${a.metadata.name}`)
      .sort();
  }

  /**
   * Sync of feature-login: the mirrors of examples/develop.yaml and examples/routes.yaml plus
   * `extra`, nothing invalid or skipped, and the IngressRoute mirror shop matching the mapped host.
   */
  async function syncFeatureLogin(hook: HookServer | undefined, extra: string[]) {
    const { answer, status } = await sync(hook, "feature-login");
    assert.deepEqual(
      ids(answer),
      [
        "HTTPRoute feature-login/api-v2",
        "Ingress feature-login/example",
        "IngressRoute feature-login/shop",
        "Middleware feature-login/strip-shop-prefix",
        "Service feature-login/example-api",
        "Service feature-login/example-web",
        "Service feature-login/postgres",
        ...extra,
      ].sort(),
    );
    assert.deepEqual(status.invalid, [], JSON.stringify(status));
    assert.deepEqual(status.skipped, [], JSON.stringify(status));

    const ir = find(answer, "IngressRoute", "shop");
    assert.ok(ir);
    const irSpec = ir.spec as IngressRouteSpec;
    assert.equal(
      irSpec.routes[0]?.match,
      "Host(`feature-login.example.com`) && PathPrefix(`/shop`)",
    );
    return { answer, ir, irSpec };
  }

  test("examples/routes.yaml was created and read back", async () => {
    const docs = loadAll(
      await readFile(path.join(REPO_ROOT, "examples", "routes.yaml"), "utf8"),
    ) as KubeObject[];
    assert.deepEqual(docs.map((d) => d.kind).sort(), [
      "Gateway",
      "HTTPRoute",
      "IngressRoute",
      "Middleware",
    ]);
    for (const d of docs) {
      await assertReadBack(client, d, await resourceOfKind(d.apiVersion, d.kind));
    }
    // The CRDs' defaults were applied: the hook sees (and copies) what the API server stores.
    const route = await client.get(
      resourcePath("gateway.networking.k8s.io/v1", "httproutes", "develop", "api-v2"),
    );
    const spec = route.spec as HTTPRouteSpec;
    assert.deepEqual(
      spec.parentRefs.map((p) => [p.group, p.kind, p.name, p.namespace]),
      [["gateway.networking.k8s.io", "Gateway", "example-gateway", undefined]],
    );
  });

  test("customize asks for every declared kind in develop and the namespace, and for the namespace's ReferenceGrant by name in develop", async () => {
    for (const hook of [hookDefault, hookSwitches]) {
      for (const ns of ["feature-login", "checkout-redesign"]) {
        const { rules } = await sync(hook, ns);
        const got = rules
          .map((r) => `${r.apiVersion} ${r.resource} ${r.namespace} ${r.names?.join(",") ?? "*"}`)
          .sort();
        const want = attachmentsOf(controller)
          .flatMap((a) =>
            a.resource === "referencegrants"
              ? [`${a.apiVersion} ${a.resource} develop kube-external-sync-${ns}`]
              : ["develop", ns].map((n) => `${a.apiVersion} ${a.resource} ${n} *`),
          )
          .sort();
        assert.deepEqual(got, want);
      }
    }
  });

  test("default config: mirrors with mapped hosts, middleware refs and parentRefs into develop, backends in develop with a ReferenceGrant there; all valid", async () => {
    const { answer, ir, irSpec } = await syncFeatureLogin(hookDefault, [
      "ReferenceGrant develop/kube-external-sync-feature-login",
    ]);
    assert.equal(ir.apiVersion, "traefik.io/v1alpha1");
    assert.equal(ir.metadata.annotations?.[REPLICATED_FROM], "develop/shop");
    assert.deepEqual(irSpec.entryPoints, ["websecure"]);
    assert.equal(irSpec.routes.length, 1);
    // crossNamespace (default): the reference names the source's namespace.
    assert.deepEqual(irSpec.routes[0]?.middlewares, [
      { name: "strip-shop-prefix", namespace: "develop" },
    ]);
    // Services stay local: the ExternalName mirror example-web in feature-login.
    assert.deepEqual(irSpec.routes[0]?.services, [{ name: "example-web", port: 80 }]);
    assert.deepEqual(irSpec.tls, {
      secretName: "wildcard-example-com-tls",
      domains: [{ main: "feature-login.example.com", sans: ["api.feature-login.example.com"] }],
    });

    const hr = find(answer, "HTTPRoute", "api-v2");
    assert.ok(hr);
    assert.equal(hr.apiVersion, "gateway.networking.k8s.io/v1");
    assert.equal(hr.metadata.annotations?.[REPLICATED_FROM], "develop/api-v2");
    const hrSpec = hr.spec as HTTPRouteSpec;
    assert.deepEqual(hrSpec.hostnames, ["api.feature-login.example.com"]);
    assert.deepEqual(
      hrSpec.parentRefs.map((p) => [p.name, p.namespace, p.sectionName]),
      [["example-gateway", "develop", "https"]],
    );
    // gatewayBackends source (default): develop's Service, allowed by the grant in develop.
    assert.deepEqual(
      hrSpec.rules.flatMap((r) => r.backendRefs).map((b) => [b.name, b.namespace, b.port]),
      [["example-api", "develop", 80]],
    );
    const grant = find(answer, "ReferenceGrant", "kube-external-sync-feature-login");
    assert.ok(grant);
    assert.equal(grant.apiVersion, "gateway.networking.k8s.io/v1beta1");
    assert.equal(grant.metadata.namespace, "develop");
    assert.deepEqual(grant.spec as ReferenceGrantSpec, {
      from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "feature-login" }],
      // Only the Services the mirror reaches in develop, not every Service there.
      to: [{ group: "", kind: "Service", name: "example-api" }],
    });

    await assertAccepted(client, "feature-login", answer, dryRunCreate);

    // The dry runs above mean something: the same API server rejects what the schemas forbid.
    const badRoute = structuredClone(ir);
    (badRoute.spec as IngressRouteSpec).routes[0] = {
      ...(badRoute.spec as IngressRouteSpec).routes[0],
      kind: "Bogus",
    } as IngressRouteSpec["routes"][number];
    assert.equal((await dryRunCreate(badRoute)).status, 422, "IngressRoute kind is an enum");
    const unknownField = structuredClone(hr);
    (unknownField.spec as Record<string, Json>).backendRef = "example-api";
    assert.equal((await dryRunCreate(unknownField)).status, 400, "strict field validation");
    const badGrant = structuredClone(grant);
    (badGrant.spec as ReferenceGrantSpec).from = [];
    assert.equal((await dryRunCreate(badGrant)).status, 422, "a ReferenceGrant needs a from");
  });

  test("traefikMiddlewares local and gatewayBackends local: local middleware refs with a Middleware mirror, local backends, no ReferenceGrant; all valid", async () => {
    const { answer, irSpec } = await syncFeatureLogin(hookSwitches, []);
    // local: the reference stays as it is and resolves to the Middleware mirror beside it.
    assert.deepEqual(irSpec.routes[0]?.middlewares, [{ name: "strip-shop-prefix" }]);
    const mw = find(answer, "Middleware", "strip-shop-prefix");
    assert.ok(mw);
    assert.equal(mw.apiVersion, "traefik.io/v1alpha1");
    assert.equal(mw.metadata.annotations?.[REPLICATED_FROM], "develop/strip-shop-prefix");
    assert.deepEqual(mw.spec, { stripPrefix: { prefixes: ["/shop"] } });

    const hr = find(answer, "HTTPRoute", "api-v2");
    assert.ok(hr);
    const hrSpec = hr.spec as HTTPRouteSpec;
    assert.deepEqual(hrSpec.hostnames, ["api.feature-login.example.com"]);
    assert.deepEqual(
      hrSpec.parentRefs.map((p) => [p.name, p.namespace]),
      [["example-gateway", "develop"]],
    );
    // local: the backend resolves to the ExternalName mirror example-api in feature-login.
    assert.deepEqual(
      hrSpec.rules.flatMap((r) => r.backendRefs).map((b) => [b.name, b.namespace, b.port]),
      [["example-api", undefined, 80]],
    );

    await assertAccepted(client, "feature-login", answer, dryRunCreate);
  });

  test("checkout-redesign (label selector, skips example-api) gets valid route mirrors with both configs", async () => {
    for (const hook of [hookDefault, hookSwitches]) {
      const { answer, status } = await sync(hook, "checkout-redesign");
      assert.equal(find(answer, "Service", "example-api"), undefined);
      assert.ok(find(answer, "IngressRoute", "shop"));
      const hr = find(answer, "HTTPRoute", "api-v2");
      assert.ok(hr);
      assert.deepEqual((hr.spec as HTTPRouteSpec).hostnames, ["api.checkout-redesign.example.com"]);
      assert.deepEqual(status.invalid, [], JSON.stringify(status));
      await assertAccepted(client, "checkout-redesign", answer, dryRunCreate);
    }
  });

  test("an unmanaged IngressRoute and HTTPRoute of the same names in the target are reported as Conflict and not returned", async () => {
    const before = await sync(hookDefault, "feature-login");
    const irMirror = find(before.answer, "IngressRoute", "shop");
    const hrMirror = find(before.answer, "HTTPRoute", "api-v2");
    assert.ok(irMirror && hrMirror);

    // The branch deploys its own routes under the same names (not ours: no managed-by label).
    const own: KubeObject[] = [
      ingressRoute("shop", {
        namespace: "feature-login",
        routes: [
          {
            kind: "Rule",
            match: "Host(`feature-login.example.com`) && PathPrefix(`/shop`)",
            services: [{ name: "shop", port: 80 }],
          },
        ],
      }),
      httpRoute("api-v2", {
        namespace: "feature-login",
        gateway: { name: "example-gateway", namespace: "develop" },
        hostnames: ["api.feature-login.example.com"],
        rules: [{ backendRefs: [{ name: "api-v2", port: 80 }] }],
      }),
    ].map(manifest);
    for (const o of own) {
      const resource = await resourceOfKind(o.apiVersion, o.kind);
      const created = await client.request(
        "POST",
        resourcePath(o.apiVersion, resource, o.metadata.namespace),
        o,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    // Creating the mirrors now would fail: that is why the hook must leave them out.
    assert.equal((await dryRunCreate(irMirror)).status, 409);
    assert.equal((await dryRunCreate(hrMirror)).status, 409);

    for (const hook of [hookDefault, hookSwitches]) {
      const { request, answer, status } = await sync(hook, "feature-login");
      assert.ok(
        request.related["IngressRoute.traefik.io/v1alpha1"]?.["feature-login/shop"],
        "related sees the unmanaged IngressRoute",
      );
      assert.ok(
        request.related["HTTPRoute.gateway.networking.k8s.io/v1"]?.["feature-login/api-v2"],
        "related sees the unmanaged HTTPRoute",
      );
      assert.equal(find(answer, "IngressRoute", "shop"), undefined);
      assert.equal(find(answer, "HTTPRoute", "api-v2"), undefined);
      // No route mirror needs develop's Services: no ReferenceGrant either.
      assert.equal(
        answer.attachments.some((a) => a.kind === "ReferenceGrant"),
        false,
      );
      assert.ok(find(answer, "Middleware", "strip-shop-prefix"), "other mirrors are unaffected");
      for (const [object, source] of [
        ["IngressRoute/shop", "develop/shop"],
        ["HTTPRoute/api-v2", "develop/api-v2"],
      ]) {
        assert.ok(
          status.skipped.some(
            (i) => i.reason === "Conflict" && i.object === object && i.source === source,
          ),
          `${object}: ${JSON.stringify(status)}`,
        );
      }
      await assertAccepted(client, "feature-login", answer, dryRunCreate);
    }

    // Once the branch's own routes are gone, the mirrors are desired again.
    for (const o of own) {
      const resource = await resourceOfKind(o.apiVersion, o.kind);
      const p = resourcePath(o.apiVersion, resource, o.metadata.namespace, o.metadata.name);
      const deleted = await client.request("DELETE", p);
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      await waitFor(`${o.kind} feature-login/${o.metadata.name} to be gone`, 30_000, async () =>
        (await client.request("GET", p)).status === 404 ? true : undefined,
      );
    }
    const afterwards = await sync(hookDefault, "feature-login");
    assert.ok(find(afterwards.answer, "IngressRoute", "shop"));
    assert.ok(find(afterwards.answer, "HTTPRoute", "api-v2"));
    assert.ok(find(afterwards.answer, "ReferenceGrant", "kube-external-sync-feature-login"));
    await assertAccepted(client, "feature-login", afterwards.answer, dryRunCreate);
  });

  test("traefik-v2: IngressRoute and Middleware sources of traefik.containo.us get mirrors of that group, accepted by its CRDs", async () => {
    const v2Sources: KubeObject[] = [
      middleware(
        "strip-legacy",
        { stripPrefix: { prefixes: ["/legacy"] } },
        { group: "traefik.containo.us", annotations: toFeatures },
      ),
      ingressRoute("legacy", {
        group: "traefik.containo.us",
        annotations: toFeatures,
        entryPoints: ["web"],
        routes: [
          {
            kind: "Rule",
            match: "Host(`legacy.develop.example.com`) && PathPrefix(`/legacy`)",
            middlewares: [{ name: "strip-legacy" }],
            services: [{ name: "example-web", port: 80 }],
          },
        ],
      }),
    ].map(manifest);
    for (const o of v2Sources) {
      const resource = await resourceOfKind(o.apiVersion, o.kind);
      const created = await client.request(
        "POST",
        resourcePath(o.apiVersion, resource, "develop"),
        o,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    const v2Controller = decoratorController(await render(["traefik-v2"]));
    for (const [hook, middlewareRef] of [
      [hookDefault, { name: "strip-legacy", namespace: "develop" }],
      [hookSwitches, { name: "strip-legacy" }],
    ] as const) {
      const { answer, status } = await sync(hook, "feature-login", v2Controller);
      assert.deepEqual(status.invalid, [], JSON.stringify(status));
      const ir = find(answer, "IngressRoute", "legacy");
      assert.ok(ir, JSON.stringify(answer.attachments.map((a) => a.metadata.name)));
      assert.equal(ir.apiVersion, "traefik.containo.us/v1alpha1");
      const spec = ir.spec as IngressRouteSpec;
      assert.equal(
        spec.routes[0]?.match,
        "Host(`legacy.feature-login.example.com`) && PathPrefix(`/legacy`)",
      );
      assert.deepEqual(spec.routes[0]?.middlewares, [middlewareRef]);
      // Only the declared group: the traefik.io sources of develop are not asked for.
      assert.equal(find(answer, "IngressRoute", "shop"), undefined);
      if (hook === hookSwitches) {
        const mw = find(answer, "Middleware", "strip-legacy");
        assert.equal(mw?.apiVersion, "traefik.containo.us/v1alpha1");
      }
      await assertAccepted(client, "feature-login", answer, dryRunCreate);
    }
  });
});
