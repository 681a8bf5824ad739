// End to end for "backends follow the branch" and TLS Secret mirrors: Metacontroller runs the
// package's DecoratorController with the `gateway-api` and `tls-secrets` components (webhooks
// pointed at a real hook server process), on a control plane serving the real Gateway API CRDs.
//
// - A branch that deploys its own `api` gets a route mirror whose `api` backend is local (named in
//   the local-backends annotation) while `web` still reaches develop, and a ReferenceGrant in
//   develop that shrinks to `web`; once the branch deletes its `api`, everything is back to the
//   baseline. An override is no problem: the namespace stays Synced.
// - A TLS Secret in develop reaches the branch with tls.crt and tls.key only, follows a renewal,
//   and is left alone where the branch has its own; other data and other Secret types are reported
//   as NotCopied, and no Secret data reaches the status or the hook's log.
//
// Config: sourceNamespaces [develop], defaultTopLevelDomain "*.example.com", gatewayBackends source
// (the default). Every wait polls a condition with a timeout.
//
//   node test/run.ts "test/cluster/overrides-e2e.test.ts" --serial

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { before, describe, test } from "node:test";
import { MANAGED_BY_VALUE, State } from "../../lib/constants.ts";
import type { NamespaceStatus } from "../../lib/status.ts";
import * as build from "../support/builders.ts";
import {
  assertNoSecretData,
  LOCAL_BACKENDS,
  MANAGED_BY,
  type SecretMarker,
  SKIP,
  secretMarker,
  toFeatures,
  valueMarker,
} from "../support/builders.ts";
import { ensureRouteCRDs } from "./build.ts";
import { controlPlaneForTests } from "./control-plane.ts";
import { type NamespaceOutputs, outputsSettle, parseStatus } from "./hook-requests.ts";
import type { HookServer } from "./hook-server.ts";
import { KubeClient, type KubeObject, resourcePath } from "./kube.ts";
import type { Metacontroller } from "./metacontroller.ts";
import { startMirroring } from "./mirroring.ts";
import { type ManagedProcess, waitFor } from "./processes.ts";
import { makeTestCertificate, type TLSData } from "./tls.ts";

const SOURCE = "develop";
const BRANCH = "feature-override";
const GRANT = `kube-external-sync-${BRANCH}`;
/** Mirrors appear within Metacontroller's resync of a change; generous for a loaded machine. */
const SETTLE_MS = 120_000;
const TEST_TIMEOUT = { timeout: 10 * 60_000 };

let client: KubeClient;
let hook: HookServer;
let metacontroller: Metacontroller;

const { kubectl } = controlPlaneForTests(async (cp) => {
  client = new KubeClient(cp);
  // The attachment kinds must be served before Metacontroller starts the controller.
  const crds = await ensureRouteCRDs({ log: (l) => console.log(l) });
  ({ hook, metacontroller } = await startMirroring(cp, {
    config: { sourceNamespaces: [SOURCE], defaultTopLevelDomain: "*.example.com" },
    components: ["gateway-api", "tls-secrets"],
    crds: crds.gatewayApi,
    // Every request is logged (level debug): the log must still hold no Secret data.
    hookLogLevel: "debug",
    namespaces: [SOURCE, BRANCH],
  }));
});

// ---------------------------------------------------------------------------------------------
// Objects

const RESOURCES: Record<string, string> = {
  Service: "services",
  Secret: "secrets",
  Namespace: "namespaces",
  Ingress: "ingresses",
  HTTPRoute: "httproutes",
};

/** A Service from the shared builders, on port 8080 (the route's backend port). */
function serviceObject(namespace: string, name: string, annotations: Record<string, string> = {}) {
  return build.service(name, { namespace, annotations, port: 8080 });
}

/** Creates `obj`, from the shared builders (test/support/builders.ts), as a client writes it. */
async function create(obj: KubeObject): Promise<void> {
  const resource = RESOURCES[obj.kind];
  assert.ok(resource, `no resource for ${obj.kind}`);
  const r = await client.request(
    "POST",
    resourcePath(obj.apiVersion, resource, obj.metadata.namespace),
    build.manifest(obj),
  );
  assert.equal(r.status, 201, `create ${obj.kind} ${obj.metadata.name}: ${JSON.stringify(r.body)}`);
}

async function tryGet(apiPath: string): Promise<KubeObject | undefined> {
  const r = await client.request("GET", apiPath);
  if (r.status === 404) return undefined;
  assert.equal(r.status, 200, `GET ${apiPath}: ${r.status}`);
  return r.body as unknown as KubeObject;
}

/** The processes whose death fails a wait at once. */
function watched(): ManagedProcess[] {
  return [metacontroller.process, hook.process];
}

/** Waits until the namespace's state label and annotations satisfy `ok`. */
function outputsIn(
  namespace: string,
  what: string,
  ok: (outputs: NamespaceOutputs, status: NamespaceStatus) => boolean,
): Promise<NamespaceOutputs> {
  return outputsSettle(
    client,
    namespace,
    what,
    (outputs) => ok(outputs, parseStatus(outputs.status)),
    SETTLE_MS,
    watched(),
  );
}

/** `reason Kind/name` of every status line. */
function lines(status: NamespaceStatus): string[] {
  return [...status.skipped, ...status.invalid].map((i) => `${i.reason} ${i.object}`).sort();
}

// ---------------------------------------------------------------------------------------------

interface BackendRef {
  name: string;
  namespace?: string;
  port?: number;
}
interface HTTPRouteView {
  rules: { backendRefs: BackendRef[] }[];
}

const routePath = resourcePath("gateway.networking.k8s.io/v1", "httproutes", BRANCH, "shop");
const grantPath = resourcePath(
  "gateway.networking.k8s.io/v1beta1",
  "referencegrants",
  SOURCE,
  GRANT,
);
const servicePath = (ns: string, name: string) => resourcePath("v1", "services", ns, name);

/** Waits until the route mirror sends `local` to the branch and `baseline` to develop. */
async function routeSettles(local: string[], baseline: string[]): Promise<void> {
  await waitFor(
    `HTTPRoute ${BRANCH}/shop: ${local.join(",") || "none"} local, grant [${baseline.join(",")}]`,
    SETTLE_MS,
    async () => {
      const route = await tryGet(routePath);
      const grant = await tryGet(grantPath);
      if (route === undefined) return undefined;
      const refs = (route.spec as unknown as HTTPRouteView).rules.flatMap((r) => r.backendRefs);
      const namesOf = (namespace: string | undefined) =>
        refs
          .filter((r) => r.namespace === namespace)
          .map((r) => r.name)
          .sort();
      const granted = grant
        ? (grant.spec as unknown as { to: { name: string }[] }).to.map((t) => t.name).sort()
        : [];
      const settled =
        JSON.stringify(namesOf(undefined)) === JSON.stringify(local) &&
        JSON.stringify(namesOf(SOURCE)) === JSON.stringify(baseline) &&
        route.metadata.annotations?.[LOCAL_BACKENDS] ===
          (local.length > 0 ? local.join(",") : undefined) &&
        JSON.stringify(granted) === JSON.stringify(baseline) &&
        baseline.length > 0 === (grant !== undefined);
      return settled ? true : undefined;
    },
    watched(),
  );
}

describe("a branch overrides exactly the backends it runs (HTTPRoute, gatewayBackends source)", () => {
  before(async () => {
    for (const name of ["api", "web"]) await create(serviceObject(SOURCE, name, toFeatures));
    await create(
      build.httpRoute("shop", {
        namespace: SOURCE,
        annotations: toFeatures,
        gateway: "shared-gateway",
        hostnames: ["develop.example.com"],
        rules: [
          {
            matches: [{ path: { type: "PathPrefix", value: "/api" } }],
            backendRefs: [{ name: "api", port: 8080 }],
          },
          { backendRefs: [{ name: "web", port: 8080 }] },
        ],
      }),
    );
  });

  test(
    "the branch runs nothing itself: both backends in develop, the grant lists both, Synced",
    TEST_TIMEOUT,
    async () => {
      await routeSettles([], ["api", "web"]);
      await outputsIn(
        BRANCH,
        "Synced, its host, no status",
        (o) => o.state === State.Synced && o.hosts === `${BRANCH}.example.com` && o.status === null,
      );
    },
  );

  test(
    "the branch deploys its own api: the mirror's api turns local, the grant shrinks to web, and only the skip is listed",
    TEST_TIMEOUT,
    async () => {
      const skip = await kubectl("annotate", "ns", BRANCH, `${SKIP}=Service/api`);
      assert.equal(skip.code, 0, skip.stderr);
      await waitFor(
        "the Service mirror api to step aside",
        SETTLE_MS,
        async () => ((await tryGet(servicePath(BRANCH, "api"))) === undefined ? true : undefined),
        watched(),
      );
      await create(serviceObject(BRANCH, "api"));
      await routeSettles(["api"], ["web"]);
      // An override is not a problem: the status lists only the skip, and the state stays Synced.
      const outputs = await outputsIn(
        BRANCH,
        "Synced with the skip listed",
        (o, status) => o.state === State.Synced && lines(status).length > 0,
      );
      assert.deepEqual(lines(parseStatus(outputs.status)), ["Skipped Service/api"]);
      const own = await tryGet(servicePath(BRANCH, "api"));
      assert.equal(own?.metadata.labels?.[MANAGED_BY], undefined, "the branch's own Service");
    },
  );

  test(
    "the branch deletes its api again: back to develop, the grant lists both, nothing listed",
    TEST_TIMEOUT,
    async () => {
      const del = await client.request("DELETE", servicePath(BRANCH, "api"));
      assert.equal(del.status, 200);
      const unskip = await kubectl("annotate", "ns", BRANCH, `${SKIP}-`);
      assert.equal(unskip.code, 0, unskip.stderr);
      await routeSettles([], ["api", "web"]);
      await waitFor(
        "the Service mirror api to come back",
        SETTLE_MS,
        async () => {
          const mirror = await tryGet(servicePath(BRANCH, "api"));
          return mirror?.metadata.labels?.[MANAGED_BY] === MANAGED_BY_VALUE ? true : undefined;
        },
        watched(),
      );
      await outputsIn(
        BRANCH,
        "Synced, no status",
        (o) => o.state === State.Synced && o.status === null,
      );
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe("the wildcard TLS Secret reaches the branch (tls-secrets component)", () => {
  const mirrorPath = resourcePath("v1", "secrets", BRANCH, "wildcard-tls");
  /** The certificate, and the one that renews it: real pairs, so the API server takes them. */
  let tls: TLSData;
  let renewed: TLSData;
  /** Data that must never be mirrored: another key of the TLS Secret, an Opaque Secret. */
  const extraData = secretMarker("e2e-extra");
  const opaqueData = secretMarker("e2e-opaque");
  /** Every Secret value of this scenario that must appear in no status and no log. */
  const secretValues = (): SecretMarker[] => [
    extraData,
    opaqueData,
    valueMarker(tls["tls.key"]),
    valueMarker(renewed["tls.key"]),
  ];
  const assertNoSecrets = (text: string, where: string) => {
    for (const marker of secretValues()) assertNoSecretData(text, where, marker);
  };

  before(async () => {
    [tls, renewed] = await Promise.all([makeTestCertificate(), makeTestCertificate()]);
    const tlsData = { "tls.crt": tls["tls.crt"], "tls.key": tls["tls.key"] };
    const sourced = { annotations: toFeatures };
    await create(
      build.secret(
        SOURCE,
        "wildcard-tls",
        "kubernetes.io/tls",
        { ...tlsData, "extra.pem": extraData.encoded },
        sourced,
      ),
    );
    await create(
      build.secret(SOURCE, "db-password", "Opaque", { password: opaqueData.encoded }, sourced),
    );
    // Not the HTTPRoute's host: two mirrors serving one host would be a HostCollision.
    const host = "secure.develop.example.com";
    await create(
      build.ingress("web", {
        ...sourced,
        namespace: SOURCE,
        hosts: [host],
        tls: [{ hosts: [host], secretName: "wildcard-tls" }],
      }),
    );
  });

  test(
    "the mirror carries tls.crt and tls.key only; the extra key and the Opaque Secret are NotCopied; no TLSSecretRequired",
    TEST_TIMEOUT,
    async () => {
      const mirror = await waitFor(
        "the TLS Secret mirror",
        SETTLE_MS,
        () => tryGet(mirrorPath),
        watched(),
      );
      assert.equal(mirror.type, "kubernetes.io/tls");
      assert.deepEqual(mirror.data, { "tls.crt": tls["tls.crt"], "tls.key": tls["tls.key"] });
      assert.equal(await tryGet(resourcePath("v1", "secrets", BRANCH, "db-password")), undefined);
      const hosts = `${BRANCH}.example.com,secure.${BRANCH}.example.com`;
      // The Ingress mirror's host comes with the sync that sees its source, maybe after the Secrets.
      const outputs = await outputsIn(
        BRANCH,
        "Degraded, both NotCopied, both hosts",
        (o, status) =>
          o.state === State.Degraded &&
          lines(status).includes("NotCopied Secret/db-password") &&
          o.hosts === hosts,
      );
      assert.deepEqual(lines(parseStatus(outputs.status)), [
        "NotCopied Secret/db-password",
        "NotCopied Secret/wildcard-tls",
      ]);
      assert.equal(outputs.hosts, hosts);
      assertNoSecrets(outputs.status ?? "", "the namespace status");
    },
  );

  test("a renewed certificate reaches the mirror", TEST_TIMEOUT, async () => {
    const patch = await client.request(
      "PATCH",
      resourcePath("v1", "secrets", SOURCE, "wildcard-tls"),
      { data: { "tls.crt": renewed["tls.crt"], "tls.key": renewed["tls.key"] } },
      "application/merge-patch+json",
    );
    assert.equal(patch.status, 200);
    await waitFor(
      "the mirror to follow the renewal",
      SETTLE_MS,
      async () => {
        const mirror = await tryGet(mirrorPath);
        const data = mirror?.data as Record<string, string> | undefined;
        return data?.["tls.key"] === renewed["tls.key"] && data["tls.crt"] === renewed["tls.crt"]
          ? true
          : undefined;
      },
      watched(),
    );
  });

  test(
    "an unmanaged Secret of that name in another branch is left alone and reported",
    TEST_TIMEOUT,
    async () => {
      const other = "feature-own-cert";
      // The namespace skips the Secret until its own exists: else the mirror could come first.
      await create(build.namespace(other, { annotations: { [SKIP]: "Secret/wildcard-tls" } }));
      const ownData = { "tls.crt": renewed["tls.crt"], "tls.key": renewed["tls.key"] };
      await create(build.secret(other, "wildcard-tls", "kubernetes.io/tls", ownData));
      const unskip = await kubectl("annotate", "ns", other, `${SKIP}-`);
      assert.equal(unskip.code, 0, unskip.stderr);
      const outputs = await outputsIn(
        other,
        "Degraded with the Conflict",
        (o, status) =>
          o.state === State.Degraded && lines(status).includes("Conflict Secret/wildcard-tls"),
      );
      // The Ingress mirror names the branch's own Secret: no TLSSecretRequired hint.
      assert.deepEqual(lines(parseStatus(outputs.status)), [
        "Conflict Secret/wildcard-tls",
        "NotCopied Secret/db-password",
      ]);
      assertNoSecrets(outputs.status ?? "", "the namespace status");
      const own = await client.get(resourcePath("v1", "secrets", other, "wildcard-tls"));
      assert.equal((own.data as Record<string, string>)["tls.key"], renewed["tls.key"]);
      assert.equal(own.metadata.labels?.[MANAGED_BY], undefined);
    },
  );

  test("the hook's log never holds Secret data", async () => {
    const log = await readFile(hook.logFile, "utf8");
    assert.match(log, /"url":"\/sync"/, "the hook logged its requests");
    assertNoSecrets(log, "the hook's log");
  });
});
