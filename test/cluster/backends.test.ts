// The mirrors of "backends follow the branch" and TLS Secret mirrors against a real API server that
// serves the real CRDs: every object the hook answers for the behaviour fixtures of those rows
// (HTTPRoutes with local and source-namespace backendRefs and the local-backends annotation,
// shrunk ReferenceGrants, IngressRoutes of both Traefik groups (traefik.io and Traefik v2's
// traefik.containo.us, IngressRouteTCP included) with `namespace` on Service references, Secret
// mirrors of type kubernetes.io/tls) is created with a server-side dry run and strict field
// validation, and must be accepted without a warning.
//
// What it does NOT validate: Metacontroller applying them, and the branch's Service appearing and
// disappearing: those are the end-to-end scenarios of overrides-e2e.test.ts.
//
//   node test/run.ts "test/cluster/backends.test.ts" --serial

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { parseConfig } from "../../lib/config.ts";
import { computeSync } from "../../lib/engine.ts";
import { parseSyncRequest } from "../../lib/request.ts";
import { ensureRouteCRDs, REPO_ROOT } from "./build.ts";
import { applyCRDs, controlPlaneForTests } from "./control-plane.ts";
import { type ApiResponse, KubeClient, type KubeObject, resourcePath } from "./kube.ts";
import { waitFor } from "./processes.ts";
import { makeTestCertificate } from "./tls.ts";

const FIXTURES = path.join(REPO_ROOT, "test", "fixtures", "sync");
/** The behaviour fixtures of these rows whose kinds this control plane serves. */
const ROWS = [
  "httproute-backend-branch-runs-own-service-stays-local",
  "httproute-backend-branch-does-not-run-goes-to-baseline",
  "httproute-backend-branch-deletes-own-service-returns-to-baseline",
  "httproute-backend-skipped-service-stays-local",
  "httproute-backends-all-run-by-branch-no-reference-grant",
  "httproute-backend-local-mode-explicit-source-reference-turns-local",
  "httproute-backend-in-another-namespace-untouched",
  "httproute-reference-grant-lists-baseline-backends-of-every-route",
  "traefik-backends-source-points-services-at-source",
  "traefik-backend-branch-runs-own-service-stays-local",
  "traefik-backend-local-mode-branch-runs-own-annotated",
  "traefik-backend-branch-deletes-own-service-returns-to-baseline",
  "traefik-v2-tcp-backends-source-branch-runs-one",
  "tls-secret-mirrored-with-tls-data-only",
  "tls-secret-mirrored-no-tls-secret-required",
  "tls-secret-invalid-annotation-keeps-existing-mirror",
  "tls-secret-without-key-not-mirrored",
];

const RESOURCES: Record<string, string> = {
  Service: "services",
  Secret: "secrets",
  Ingress: "ingresses",
  HTTPRoute: "httproutes",
  ReferenceGrant: "referencegrants",
  IngressRoute: "ingressroutes",
  IngressRouteTCP: "ingressroutetcps",
};

let client: KubeClient;
/** A real certificate and key, made for this run: the API server warns about data that is not PEM. */
let realTLS: Record<string, string> = {};

const { kubectl } = controlPlaneForTests(async (cp) => {
  client = new KubeClient(cp);
  const crds = await ensureRouteCRDs({ log: (l) => console.log(l) });
  await applyCRDs(cp, [...crds.traefik, ...crds.traefikV2, ...crds.gatewayApi]);
  realTLS = await makeTestCertificate();
  for (const ns of ["develop", "feature-login"]) {
    const r = await kubectl("create", "namespace", ns);
    assert.equal(r.code, 0, r.stderr);
  }
});

/**
 * A create with dryRun=All and strict field validation. Right after a CRD is established its
 * watch cache may still answer 429: retried, as client-go does.
 */
async function dryRunCreate(obj: KubeObject): Promise<ApiResponse> {
  const resource = RESOURCES[obj.kind];
  assert.ok(resource, `no resource known for ${obj.kind}`);
  const p = resourcePath(obj.apiVersion, resource, obj.metadata.namespace);
  return waitFor(`a dry-run create of ${obj.kind} ${obj.metadata.name}`, 60_000, async () => {
    const r = await client.request("POST", `${p}?dryRun=All&fieldValidation=Strict`, obj);
    return r.status === 429 ? undefined : r;
  });
}

async function answerOf(row: string): Promise<KubeObject[]> {
  const fixture = JSON.parse(await readFile(path.join(FIXTURES, `${row}.json`), "utf8")) as {
    config?: unknown;
    request: unknown;
  };
  const config = parseConfig(fixture.config ?? { sourceNamespaces: ["develop"] });
  const answer = computeSync(parseSyncRequest(fixture.request, config), config).response
    .attachments as KubeObject[];
  // The fixtures' key material is a placeholder: the same keys, with real PEM in them.
  for (const obj of answer) {
    if (obj.kind !== "Secret") continue;
    const data = obj.data as Record<string, string>;
    for (const key of Object.keys(data)) data[key] = realTLS[key] ?? data[key] ?? "";
  }
  return answer;
}

describe("mirrors of backends that follow the branch, and TLS Secret mirrors, under the real schemas", () => {
  for (const row of ROWS) {
    test(`${row}: every object of the answer is accepted`, async () => {
      const answer = await answerOf(row);
      assert.ok(answer.length > 0, "the answer has objects to check");
      const rejected: string[] = [];
      for (const obj of answer) {
        const r = await dryRunCreate(obj);
        if (r.status !== 201 || r.warnings.length > 0) {
          rejected.push(
            `${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}: ${r.status} ${r.warnings.join("; ")} ${JSON.stringify(r.body)}`,
          );
        }
      }
      assert.deepEqual(rejected, []);
    });
  }

  test("the dry runs mean something: the same API server rejects a TLS mirror without its key and a Service reference of an unknown kind", async () => {
    const secret = (await answerOf("tls-secret-mirrored-with-tls-data-only")).find(
      (o) => o.kind === "Secret",
    );
    assert.ok(secret);
    const keyless = structuredClone(secret);
    delete (keyless.data as Record<string, string>)["tls.key"];
    assert.equal(
      (await dryRunCreate(keyless)).status,
      422,
      "a kubernetes.io/tls Secret needs tls.key",
    );

    const route = (await answerOf("traefik-backends-source-points-services-at-source")).find(
      (o) => o.kind === "IngressRoute",
    );
    assert.ok(route);
    const bad = structuredClone(route);
    const services = (bad.spec as { routes: { services: Record<string, unknown>[] }[] }).routes[0]
      ?.services;
    assert.ok(services?.[0]);
    services[0].kind = "Bogus";
    assert.equal((await dryRunCreate(bad)).status, 422, "IngressRoute service kind is an enum");
  });
});
