// DRAFT, not run yet (the test glob is test/cluster/*.test.ts): end-to-end scenarios for
// "backends follow the branch" and TLS Secret mirrors, with a real Metacontroller calling the hook
// and applying its answers. They need the Metacontroller harness (Metacontroller built from source
// and running against the control plane, the hook server behind the DecoratorController), which is
// not in this branch. To wire them up, call `overrideScenarios` from a `*.test.ts` file once that
// harness exists, with an environment in which:
//
// - the package is applied with the `gateway-api` and `tls-secrets` components (so the
//   DecoratorController declares services, ingresses, httproutes, referencegrants and secrets);
// - the Gateway API CRDs are installed and established;
// - the hook runs with `sourceNamespaces: [develop]`, `defaultTopLevelDomain: "*.example.com"` and
//   `gatewayBackends: source` (the default);
// - `hookLog()` returns everything the hook server has logged so far.
//
// Every wait polls a condition with a timeout (waitFor); nothing sleeps.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { waitFor } from "./harness.ts";
import {
  type CommandResult,
  type Json,
  type KubeClient,
  type KubeObject,
  resourcePath,
} from "./kube.ts";
import { makeTestCertificate, type TLSData } from "./tls.ts";

export interface OverridesEnv {
  client: KubeClient;
  kubectl(...args: string[]): Promise<CommandResult>;
  /** The hook server's log so far. */
  hookLog(): Promise<string>;
}

const SOURCE = "develop";
const BRANCH = "feature-override";
const GRANT = `kube-external-sync-${BRANCH}`;
const LOCAL_BACKENDS = "kube-external-sync.io/local-backends";
const STATUS = "kube-external-sync.io/status";
const SKIP = "kube-external-sync.io/skip";
const TO_FEATURES = { "kube-external-sync.io/replicate-to": "feature-.*" };
/** Mirrors appear within Metacontroller's resync of a change; generous for a loaded CI machine. */
const SETTLE_MS = 120_000;

/** Recognisable secret data in what must not be mirrored (another key, an Opaque Secret). */
const MARKER = "KES-E2E-MARKER-private-data-51c0";
const b64 = (text: string) => Buffer.from(text).toString("base64");

/** Runs of 10 characters of each value found in `text`: any quoted part of one is caught. */
function leaks(text: string, values: readonly string[]): string[] {
  return values.flatMap((value) =>
    Array.from({ length: value.length - 9 }, (_, i) => value.slice(i, i + 10)).filter((run) =>
      text.includes(run),
    ),
  );
}

interface BackendRef {
  name: string;
  namespace?: string;
  port?: number;
}
interface HTTPRouteView {
  rules: { backendRefs: BackendRef[] }[];
}

export function overrideScenarios(env: () => OverridesEnv): void {
  const client = () => env().client;

  async function create(obj: Record<string, Json>): Promise<void> {
    const o = obj as unknown as KubeObject;
    const resource = RESOURCES[o.kind];
    assert.ok(resource, `no resource for ${o.kind}`);
    const r = await client().request(
      "POST",
      resourcePath(o.apiVersion, resource, o.metadata.namespace),
      obj,
    );
    assert.equal(r.status, 201, `create ${o.kind} ${o.metadata.name}: ${JSON.stringify(r.body)}`);
  }

  async function tryGet(path: string): Promise<KubeObject | undefined> {
    const r = await client().request("GET", path);
    if (r.status === 404) return undefined;
    assert.equal(r.status, 200, `GET ${path}: ${r.status}`);
    return r.body as unknown as KubeObject;
  }

  const routePath = resourcePath("gateway.networking.k8s.io/v1", "httproutes", BRANCH, "shop");
  const grantPath = resourcePath(
    "gateway.networking.k8s.io/v1beta1",
    "referencegrants",
    SOURCE,
    GRANT,
  );
  const servicePath = (ns: string, name: string) => resourcePath("v1", "services", ns, name);

  /** Waits until the route mirror sends `local` to the branch and everything else to develop. */
  async function routeSettles(local: string[], baseline: string[]): Promise<void> {
    await waitFor(
      `HTTPRoute ${BRANCH}/shop: ${local.join(",") || "none"} local, grant [${baseline.join(",")}]`,
      SETTLE_MS,
      async () => {
        const route = await tryGet(routePath);
        const grant = await tryGet(grantPath);
        if (route === undefined) return undefined;
        const refs = (route.spec as unknown as HTTPRouteView).rules.flatMap((r) => r.backendRefs);
        const localNow = refs
          .filter((r) => r.namespace === undefined)
          .map((r) => r.name)
          .sort();
        const baselineNow = refs
          .filter((r) => r.namespace === SOURCE)
          .map((r) => r.name)
          .sort();
        const annotation = route.metadata.annotations?.[LOCAL_BACKENDS];
        const granted = grant
          ? (grant.spec as unknown as { to: { name: string }[] }).to.map((t) => t.name).sort()
          : [];
        const settled =
          JSON.stringify(localNow) === JSON.stringify(local) &&
          JSON.stringify(baselineNow) === JSON.stringify(baseline) &&
          annotation === (local.length > 0 ? local.join(",") : undefined) &&
          JSON.stringify(granted) === JSON.stringify(baseline) &&
          baseline.length > 0 === (grant !== undefined);
        return settled ? true : undefined;
      },
    );
  }

  describe("e2e: a branch overrides exactly the backends it runs (HTTPRoute, gatewayBackends source)", () => {
    test("setup: develop's api and web, a route to both, and a branch namespace", async () => {
      for (const name of ["api", "web"]) {
        await create({
          apiVersion: "v1",
          kind: "Service",
          metadata: { name, namespace: SOURCE, annotations: TO_FEATURES },
          spec: { selector: { app: name }, ports: [{ name: "http", port: 8080 }] },
        });
      }
      await create({
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: "shop", namespace: SOURCE, annotations: TO_FEATURES },
        spec: {
          parentRefs: [{ name: "shared-gateway" }],
          hostnames: ["develop.example.com"],
          rules: [
            {
              matches: [{ path: { type: "PathPrefix", value: "/api" } }],
              backendRefs: [{ name: "api", port: 8080 }],
            },
            { backendRefs: [{ name: "web", port: 8080 }] },
          ],
        },
      });
      await create({ apiVersion: "v1", kind: "Namespace", metadata: { name: BRANCH } });
    });

    test("the branch runs nothing itself: both backends in develop, the grant lists both", async () => {
      await routeSettles([], ["api", "web"]);
    });

    test("the branch deploys its own api: the mirror's api turns local and the grant shrinks to web", async () => {
      const skip = await env().kubectl("annotate", "ns", BRANCH, `${SKIP}=Service/api`);
      assert.equal(skip.code, 0, skip.stderr);
      await waitFor("the Service mirror api to step aside", SETTLE_MS, async () =>
        (await tryGet(servicePath(BRANCH, "api"))) === undefined ? true : undefined,
      );
      await create({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "api", namespace: BRANCH },
        spec: { selector: { app: "api" }, ports: [{ name: "http", port: 8080 }] },
      });
      await routeSettles(["api"], ["web"]);
      // An override is not a problem: the status names only the skip.
      const ns = await client().get(resourcePath("v1", "namespaces", undefined, BRANCH));
      const status = JSON.parse(ns.metadata.annotations?.[STATUS] ?? "{}") as {
        invalid: unknown[];
      };
      assert.deepEqual(status.invalid, []);
    });

    test("the branch deletes its api again: back to develop, the grant lists both again", async () => {
      const del = await client().request("DELETE", servicePath(BRANCH, "api"));
      assert.equal(del.status, 200);
      const unskip = await env().kubectl("annotate", "ns", BRANCH, `${SKIP}-`);
      assert.equal(unskip.code, 0, unskip.stderr);
      await routeSettles([], ["api", "web"]);
      await waitFor("the Service mirror api to come back", SETTLE_MS, async () =>
        (await tryGet(servicePath(BRANCH, "api"))) ? true : undefined,
      );
    });
  });

  describe("e2e: the wildcard TLS Secret reaches the branch (tls-secrets component)", () => {
    const mirrorPath = resourcePath("v1", "secrets", BRANCH, "wildcard-tls");
    /** The certificate, and the one that renews it: real pairs, so the API server takes them. */
    let tls: TLSData;
    let renewed: TLSData;
    const secretValues = () => [MARKER, b64(MARKER), tls["tls.key"], renewed["tls.key"]];

    test("setup: a TLS Secret and an Opaque Secret in develop, annotated, and an Ingress naming the TLS one", async () => {
      [tls, renewed] = await Promise.all([makeTestCertificate(), makeTestCertificate()]);
      await create({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "wildcard-tls", namespace: SOURCE, annotations: TO_FEATURES },
        type: "kubernetes.io/tls",
        data: { "tls.crt": tls["tls.crt"], "tls.key": tls["tls.key"], "extra.pem": b64(MARKER) },
      });
      await create({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "db-password", namespace: SOURCE, annotations: TO_FEATURES },
        type: "Opaque",
        data: { password: b64(MARKER) },
      });
      await create({
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        metadata: { name: "web", namespace: SOURCE, annotations: TO_FEATURES },
        spec: {
          rules: [
            {
              host: "develop.example.com",
              http: {
                paths: [
                  {
                    path: "/",
                    pathType: "Prefix",
                    backend: { service: { name: "web", port: { number: 8080 } } },
                  },
                ],
              },
            },
          ],
          tls: [{ hosts: ["develop.example.com"], secretName: "wildcard-tls" }],
        },
      });
    });

    test("the mirror carries tls.crt and tls.key only; the Opaque Secret is refused; no TLSSecretRequired", async () => {
      const mirror = await waitFor("the TLS Secret mirror", SETTLE_MS, () => tryGet(mirrorPath));
      assert.equal(mirror.type, "kubernetes.io/tls");
      assert.deepEqual(mirror.data, { "tls.crt": tls["tls.crt"], "tls.key": tls["tls.key"] });
      assert.equal(await tryGet(resourcePath("v1", "secrets", BRANCH, "db-password")), undefined);
      const status = await waitFor("the status to report the refused type", SETTLE_MS, async () => {
        const ns = await client().get(resourcePath("v1", "namespaces", undefined, BRANCH));
        const text = ns.metadata.annotations?.[STATUS] ?? "";
        return text.includes("Secret/db-password") ? text : undefined;
      });
      assert.ok(!status.includes("TLSSecretRequired"), status);
      assert.deepEqual(leaks(status, secretValues()), [], status);
    });

    test("a renewed certificate reaches the mirror", async () => {
      const patch = await client().request(
        "PATCH",
        resourcePath("v1", "secrets", SOURCE, "wildcard-tls"),
        { data: { "tls.crt": renewed["tls.crt"], "tls.key": renewed["tls.key"] } },
        "application/merge-patch+json",
      );
      assert.equal(patch.status, 200);
      await waitFor("the mirror to follow the renewal", SETTLE_MS, async () => {
        const mirror = await tryGet(mirrorPath);
        return (mirror?.data as Record<string, string> | undefined)?.["tls.key"] ===
          renewed["tls.key"]
          ? true
          : undefined;
      });
    });

    test("an unmanaged Secret of that name in another branch is left alone and reported", async () => {
      const other = "feature-own-cert";
      await create({ apiVersion: "v1", kind: "Namespace", metadata: { name: other } });
      await create({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "wildcard-tls", namespace: other },
        type: "kubernetes.io/tls",
        data: { "tls.crt": renewed["tls.crt"], "tls.key": renewed["tls.key"] },
      });
      await waitFor("Conflict in the other branch's status", SETTLE_MS, async () => {
        const ns = await client().get(resourcePath("v1", "namespaces", undefined, other));
        return ns.metadata.annotations?.[STATUS]?.includes("Conflict") ? true : undefined;
      });
      const own = await client().get(resourcePath("v1", "secrets", other, "wildcard-tls"));
      assert.equal((own.data as Record<string, string>)["tls.key"], renewed["tls.key"]);
      assert.equal(own.metadata.labels?.["app.kubernetes.io/managed-by"], undefined);
    });

    test("the hook's log never holds the key", async () => {
      const log = await env().hookLog();
      assert.ok(log.length > 0, "the hook logged its requests");
      assert.deepEqual(leaks(log, secretValues()), [], "secret data in the hook's log");
    });
  });
}

const RESOURCES: Record<string, string> = {
  Service: "services",
  Secret: "secrets",
  Namespace: "namespaces",
  Ingress: "ingresses",
  HTTPRoute: "httproutes",
};
