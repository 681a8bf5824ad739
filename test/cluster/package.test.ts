// Tests against a real control plane (etcd + kube-apiserver + kube-controller-manager built from
// source by build.ts, started by control-plane.ts, serving Metacontroller's CRDs) and a real hook
// server process.
//
// What this validates: that the Kustomize package in metacontroller/ is accepted by a real API
// server (its DecoratorController by Metacontroller's CRD schema), and that the hook's answers,
// computed from objects read back from a real API server in Metacontroller's v1 hook shape, are
// objects that API server accepts (server-side dry run, strict field validation), including the
// conflict rule against a real unmanaged Service. Metacontroller itself applying the answers is
// metacontroller.test.ts.
//
//   npm run test:cluster      (make test-cluster builds the binaries first)

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { load, loadAll } from "js-yaml";
import { parseConfig } from "../../lib/config.ts";
import * as build from "../support/builders.ts";
import { REPO_ROOT } from "./build.ts";
import { controlPlaneForTests } from "./control-plane.ts";
import {
  applyExampleSources,
  assertAccepted,
  assertPackageDryRun,
  assertReadBack,
  customize,
  EXAMPLE_SOURCES,
  sync as postSync,
} from "./hook-requests.ts";
import { type HookServer, startHookServer } from "./hook-server.ts";
import {
  buildSyncRequest,
  type Json,
  KubeClient,
  type KubeObject,
  resourcePath,
  type SyncResponse,
} from "./kube.ts";
import { installMetacontrollerCRDs } from "./metacontroller.ts";
import { waitFor } from "./processes.ts";

const PKG_DIR = path.join(REPO_ROOT, "metacontroller");
const NS = "kube-external-sync";

let client: KubeClient;
const { plane, kubectl } = controlPlaneForTests(async (cp) => {
  client = new KubeClient(cp);
  await installMetacontrollerCRDs(cp);
});

interface Rendered extends KubeObject {
  spec?: { [k: string]: Json };
  data?: Record<string, string>;
}

function only(docs: Rendered[], kind: string): Rendered {
  const found = docs.filter((d) => d.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind} in the package`);
  return found[0] as Rendered;
}

// Narrow, typed views of the rendered objects this test inspects.
interface PodSpecView {
  containers: {
    image: string;
    env: { name: string; value?: string }[];
    securityContext: Record<string, Json>;
  }[];
  volumes: { name: string; configMap?: { name: string } }[];
  automountServiceAccountToken: boolean;
}
interface DeploymentView {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpecView };
}
interface WebhookView {
  webhook: { service: { name: string; namespace: string; port: number } };
}

describe("metacontroller/ Kustomize package", () => {
  test("renders, and the API server accepts every object, the DecoratorController included", async () => {
    const rendered = await kubectl("kustomize", "metacontroller/");
    assert.equal(rendered.code, 0, rendered.stderr);
    const docs = loadAll(rendered.stdout) as Rendered[];
    assert.deepEqual(docs.map((d) => d.kind).sort(), [
      "ConfigMap",
      "DecoratorController",
      "Deployment",
      "Namespace",
      "NetworkPolicy",
      "PodDisruptionBudget",
      "Service",
      "ServiceAccount",
    ]);

    // Consistency of the rendered objects with each other.
    for (const d of docs) {
      assert.equal(
        d.metadata.labels &&
          (d.metadata.labels as Record<string, string>)["app.kubernetes.io/part-of"],
        NS,
      );
      const clusterScoped = d.kind === "Namespace" || d.kind === "DecoratorController";
      assert.equal(d.metadata.namespace, clusterScoped ? undefined : NS, `${d.kind} namespace`);
    }
    const service = only(docs, "Service");
    const deployment = only(docs, "Deployment").spec as unknown as DeploymentView;
    const dc = only(docs, "DecoratorController");
    const hooks = (dc.spec as unknown as { hooks: Record<string, WebhookView> }).hooks;
    for (const name of ["sync", "customize"]) {
      const svc = hooks[name]?.webhook.service;
      assert.deepEqual(svc, {
        name: service.metadata.name,
        namespace: service.metadata.namespace,
        port: 80,
        protocol: "http",
      });
    }
    const svcSpec = service.spec as unknown as {
      selector: Record<string, string>;
      ports: { port: number; targetPort: string }[];
    };
    assert.equal(svcSpec.ports[0]?.port, 80);
    for (const [k, v] of Object.entries(svcSpec.selector)) {
      assert.equal(deployment.template.metadata.labels[k], v, `Service selector ${k}`);
    }
    assert.deepEqual(
      (only(docs, "PodDisruptionBudget").spec as { selector: Json }).selector,
      deployment.selector,
    );
    assert.equal(deployment.replicas, 2);
    const pod = deployment.template.spec;
    assert.equal(pod.automountServiceAccountToken, false);
    const container = pod.containers[0];
    assert.ok(container);
    assert.equal(container.image, "ghcr.io/kube-external-sync/kube-external-sync:2.0.0");
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    const configMap = only(docs, "ConfigMap");
    assert.equal(
      pod.volumes.find((v) => v.name === "config")?.configMap?.name,
      configMap.metadata.name,
      "the Deployment mounts the generated (hash-suffixed) ConfigMap",
    );
    const configText = configMap.data?.["config.yaml"] ?? "";
    const config = parseConfig(load(configText), NS);
    assert.deepEqual(config.sourceNamespaces, ["develop"]);
    for (const ns of ["kube-system", "kube-public", "kube-node-lease", "metacontroller"]) {
      assert.ok(config.excludeNamespaces.matches(ns), `${ns} excluded`);
    }
    const policy = only(docs, "NetworkPolicy").spec as unknown as {
      ingress: { from: Json[]; ports: Json[] }[];
    };
    assert.deepEqual(policy.ingress, [
      {
        from: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "metacontroller" } },
            podSelector: { matchLabels: { "app.kubernetes.io/name": "metacontroller" } },
          },
        ],
        ports: [{ port: 8080, protocol: "TCP" }],
      },
    ]);

    // Metacontroller's API group is served, so the dry run below validates the controller too.
    const group = await client.request("GET", "/apis/metacontroller.k8s.io/v1alpha1");
    assert.equal(group.status, 200);

    await assertPackageDryRun(plane(), "metacontroller/", docs, only(docs, "Namespace"));
  });
});

// ---------------------------------------------------------------------------------------------

describe("hook answers for live objects", () => {
  let hook: HookServer | undefined;
  let controller: Json;

  before(async () => {
    const c = plane();
    const applied = await applyExampleSources(c);
    assert.equal(applied.code, 0, applied.stderr);
    hook = await startHookServer({
      kubeconfig: c.kubeconfigPath,
      configFile: path.join(REPO_ROOT, "examples", "config.yaml"),
    });
    controller = load(
      await readFile(path.join(PKG_DIR, "decoratorcontroller.yaml"), "utf8"),
    ) as Json;
  });

  after(async () => {
    await hook?.stop();
  });

  async function sync(namespace: string) {
    assert.ok(hook);
    const request = await buildSyncRequest(client, controller, namespace, ["develop", namespace]);
    return { request, ...(await postSync(hook, request)) };
  }

  function names(answer: SyncResponse, kind: string): string[] {
    return answer.attachments
      .filter((a) => a.kind === kind)
      .map((a) => a.metadata.name)
      .sort();
  }

  test("the examples were created and read back", async () => {
    for (const file of EXAMPLE_SOURCES) {
      const docs = loadAll(await readFile(path.join(REPO_ROOT, file), "utf8")) as KubeObject[];
      for (const d of docs) {
        const resource = { Namespace: "namespaces", Service: "services", Ingress: "ingresses" }[
          d.kind
        ];
        assert.ok(resource, d.kind);
        const live = await assertReadBack(client, d, resource);
        assert.deepEqual(live.metadata.labels ?? {}, {
          ...(d.kind === "Namespace" ? { "kubernetes.io/metadata.name": d.metadata.name } : {}),
          ...d.metadata.labels,
        });
      }
    }
  });

  test("customize asks for exactly what the sync requests below contain", async () => {
    assert.ok(hook);
    for (const ns of ["feature-login", "checkout-redesign"]) {
      const { rules } = await customize(client, hook, controller, ns);
      const got = rules.map((r) => `${r.apiVersion} ${r.resource} ${r.namespace}`).sort();
      const want = ["develop", ns]
        .flatMap((n) => [`v1 services ${n}`, `networking.k8s.io/v1 ingresses ${n}`])
        .sort();
      assert.deepEqual(got, want);
      for (const r of rules) {
        assert.deepEqual(Object.keys(r).sort(), ["apiVersion", "namespace", "resource"]);
      }
    }
  });

  test("feature-login (replicate-to pattern) gets 3 Services and 1 Ingress, all valid", async () => {
    const { answer, outputs } = await sync("feature-login");
    assert.deepEqual(names(answer, "Service"), ["example-api", "example-web", "postgres"]);
    assert.deepEqual(names(answer, "Ingress"), ["example"]);
    assert.equal(answer.attachments.length, 4);
    // Nothing to report, and no state yet: none of the mirrors is in place (no Metacontroller
    // runs here), so the namespace gets no write until they are.
    assert.deepEqual(outputs, { state: null, hosts: null, status: null });
    for (const svc of answer.attachments.filter((a) => a.kind === "Service")) {
      const spec = svc.spec as { type: string; externalName: string };
      assert.equal(spec.type, "ExternalName");
      assert.equal(spec.externalName, `${svc.metadata.name}.develop.svc.cluster.local`);
      // The API server accepts (and stores) a nodePort on an ExternalName Service, so only this
      // assertion, not the dry run, guards against copying it.
      for (const port of (svc.spec as { ports: Record<string, unknown>[] }).ports) {
        assert.equal(port.nodePort, undefined);
      }
    }
    const ingress = answer.attachments.find((a) => a.kind === "Ingress");
    assert.ok(ingress);
    const rules = (ingress.spec as { rules: { host: string }[] }).rules;
    assert.deepEqual(rules.map((r) => r.host).sort(), [
      "api.feature-login.example.com",
      "feature-login.example.com",
    ]);
    await assertAccepted(client, "feature-login", answer);
  });

  test("checkout-redesign (label selector, skip annotation) gets 2 Services and 1 Ingress", async () => {
    const { answer, outputs, status } = await sync("checkout-redesign");
    assert.deepEqual(names(answer, "Service"), ["example-web", "postgres"]);
    assert.deepEqual(names(answer, "Ingress"), ["example"]);
    assert.deepEqual(
      status.skipped.map((i) => `${i.reason} ${i.object}`),
      ["Skipped Service/example-api"],
      JSON.stringify(status),
    );
    assert.deepEqual(status.invalid, []);
    // A skip the namespace asked for is listed but is no problem: no Degraded state.
    assert.equal(outputs.state, null);
    await assertAccepted(client, "checkout-redesign", answer);
  });

  test("an unmanaged Service in the target is reported as Conflict and its mirror is not returned", async () => {
    const before = await sync("feature-login");
    const mirror = before.answer.attachments.find(
      (a) => a.kind === "Service" && a.metadata.name === "postgres",
    );
    assert.ok(mirror);

    // The branch deploys its own postgres (a plain ClusterIP Service, not ours).
    const own = build.service("postgres", { namespace: "feature-login", port: 5432 });
    const created = await client.request(
      "POST",
      resourcePath("v1", "services", "feature-login"),
      build.manifest(own),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // Creating the mirror now would fail: that is why the hook must leave it out.
    assert.equal((await client.dryRunCreate(mirror)).status, 409);

    const { request, answer, outputs, status } = await sync("feature-login");
    assert.ok(request.related["Service.v1"]?.["feature-login/postgres"], "related sees it");
    assert.equal(outputs.state, "Degraded", "a conflict needs a person");
    assert.deepEqual(names(answer, "Service"), ["example-api", "example-web"]);
    assert.deepEqual(names(answer, "Ingress"), ["example"]);
    assert.ok(
      status.skipped.some(
        (i) =>
          i.reason === "Conflict" &&
          i.object === "Service/postgres" &&
          i.source === "develop/postgres",
      ),
      JSON.stringify(status),
    );
    await assertAccepted(client, "feature-login", answer);

    // Once the branch's own Service is gone, the mirror is desired again.
    const deleted = await client.request(
      "DELETE",
      resourcePath("v1", "services", "feature-login", "postgres"),
    );
    assert.equal(deleted.status, 200);
    await waitFor("Service feature-login/postgres to be gone", 30_000, async () => {
      const r = await client.request(
        "GET",
        resourcePath("v1", "services", "feature-login", "postgres"),
      );
      return r.status === 404 ? true : undefined;
    });
    const after = await sync("feature-login");
    assert.deepEqual(names(after.answer, "Service"), ["example-api", "example-web", "postgres"]);
    assert.equal(after.outputs.status, null, "nothing left to report");
    await assertAccepted(client, "feature-login", after.answer);
  });
});
