// The Helm chart charts/kube-external-sync, with Helm 4 and Helm 3 built from their Go modules
// (build.ts, ensureHelm) and a real control plane (control-plane.ts) serving Metacontroller's CRDs:
//
// - Helm 3 and Helm 4 alike: `helm lint --strict` passes with the defaults and with every option
//   set, `helm template` renders byte-identical output with the defaults and with every option,
//   and a bad value fails with the field named (values.schema.json);
// - `helm template` with the defaults and with every option, each server-side dry-run with strict
//   field validation on the real API server: every object is accepted, the DecoratorController
//   by Metacontroller's CRD, except the optional ServiceMonitor (its prometheus-operator CRD is not
//   installed), and kubectl's only error is that it cannot map that kind;
// - the default rendering and `kubectl kustomize metacontroller/` produce the same objects (names,
//   specs; the DecoratorController byte-equal), and the route values and tlsSecrets the same
//   DecoratorController as the package with the matching components;
// - the renderings below are Helm 4's (Helm 3's are the same, as checked above);
// - end to end, `helm install` (Helm 4) for real gives the running product that the Kustomize package gives
//   in metacontroller.test.ts: Metacontroller runs the installed DecoratorController, with only its
//   webhooks pointed at a local hook server started with the installed configuration (pods never
//   run here), and mirrors appear in a new namespace, which reaches the state Synced.
//
//   npm run test:cluster      (make test-cluster builds the binaries first)

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { before, describe, test } from "node:test";
import { dump, load, loadAll } from "js-yaml";
import { parseConfig } from "../../lib/config.ts";
import {
  Annotation,
  Label,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  State,
} from "../../lib/constants.ts";
import * as build from "../support/builders.ts";
import { REPLICATE_TO } from "../support/builders.ts";
import { ensureHelm, type HelmMajor, REPO_ROOT } from "./build.ts";
import { controlPlaneForTests, runKubectl } from "./control-plane.ts";
import { startHookServer } from "./hook-server.ts";
import {
  type CommandResult,
  type Json,
  KubeClient,
  type KubeObject,
  resourcePath,
  runCommand,
} from "./kube.ts";
import {
  installMetacontrollerCRDs,
  loopbackDecoratorController,
  pointWebhooksAt,
  renderPackage,
  startMetacontroller,
} from "./metacontroller.ts";
import { waitFor } from "./processes.ts";

const CHART = path.join(REPO_ROOT, "charts", "kube-external-sync");
/** The namespace the package installs into; the release goes there for equal objects. */
const NS = "kube-external-sync";

/** The Helm majors the chart supports; each is built and checked. */
const HELM_MAJORS: readonly HelmMajor[] = [4, 3];
const helmBinaries = new Map<HelmMajor, string>();
/** HELM_CACHE_HOME, HELM_CONFIG_HOME and HELM_DATA_HOME: a directory of the control plane's. */
let helmEnv: NodeJS.ProcessEnv = process.env;
const { kubectl, plane } = controlPlaneForTests(async (cp) => {
  await installMetacontrollerCRDs(cp);
  const home = path.join(cp.dir, "helm");
  helmEnv = {
    ...process.env,
    HELM_CACHE_HOME: path.join(home, "cache"),
    HELM_CONFIG_HOME: path.join(home, "config"),
    HELM_DATA_HOME: path.join(home, "data"),
  };
});

before(
  async () => {
    for (const major of HELM_MAJORS) {
      helmBinaries.set(major, await ensureHelm({ major, log: (l) => console.log(l) }));
    }
  },
  { timeout: 20 * 60_000 },
);

/** Helm `major` (default 4) with these arguments. */
function helm(args: readonly string[], major: HelmMajor = 4): Promise<CommandResult> {
  const helmBinary = helmBinaries.get(major);
  assert.ok(helmBinary, `helm v${major} was not built`);
  // Helm's own directories are the control plane's: nothing under HOME is read or written.
  return runCommand(helmBinary, args, { cwd: REPO_ROOT, env: helmEnv });
}

interface Rendered extends KubeObject {
  spec?: { [k: string]: Json };
  data?: Record<string, string>;
}

/** `helm template` (Helm 4) of the chart into namespace NS with these values files. */
function template(...valuesFiles: string[]): Promise<{ text: string; docs: Rendered[] }> {
  return templateWith(4, valuesFiles);
}

/** `helm template` with Helm `major` of the chart into namespace NS; must succeed. */
async function templateWith(
  major: HelmMajor,
  valuesFiles: readonly string[],
): Promise<{ text: string; docs: Rendered[] }> {
  const r = await helm(
    [
      "template",
      "kube-external-sync",
      CHART,
      "--namespace",
      NS,
      ...valuesFiles.flatMap((f) => ["--values", f]),
    ],
    major,
  );
  assert.equal(r.code, 0, r.stderr);
  const docs = (loadAll(r.stdout) as (Rendered | null)[]).filter((d): d is Rendered => d !== null);
  return { text: r.stdout, docs };
}

/**
 * The documents of a `helm template` output, each with its `# Source:` line and comments, without
 * trailing whitespace: Helm 3 trims each rendered template, Helm 4 keeps the newline that ends the
 * file (a blank line before the next `---`). Nothing else may differ.
 */
function documentTexts(text: string): string[] {
  return text.split(/^---$/m).map((doc) => doc.trimEnd());
}

/** A values file in a temporary directory, removed after `fn`. */
async function withValues<T>(values: Json, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kes-values-"));
  try {
    const file = path.join(dir, "values.yaml");
    await writeFile(file, dump(values));
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function only(docs: readonly Rendered[], kind: string): Rendered {
  const found = docs.filter((d) => d.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0] as Rendered;
}

/** How `kubectl apply` names an object in its output: `service/x`, `deployment.apps/x`. */
function kubectlName(d: KubeObject): string {
  const kind = d.kind.toLowerCase();
  const slash = d.apiVersion.indexOf("/");
  return slash < 0
    ? `${kind}/${d.metadata.name}`
    : `${kind}.${d.apiVersion.slice(0, slash)}/${d.metadata.name}`;
}

/**
 * `kubectl apply --dry-run=server --validate=strict` of a rendering: every object is accepted
 * except those of `missingKinds` (no CRD here), and kubectl's only errors are one per such object,
 * that it cannot map its kind. The namespace is created for real first (NamespaceLifecycle rejects
 * objects in a namespace that does not exist).
 */
async function assertDryRun(
  text: string,
  docs: readonly Rendered[],
  missingKinds: readonly string[],
): Promise<void> {
  const ns = await kubectl("create", "namespace", NS, "--dry-run=client", "-o", "json");
  assert.equal(ns.code, 0, ns.stderr);
  const applied = await runKubectl(plane(), ["apply", "-f", "-"], ns.stdout);
  assert.equal(applied.code, 0, applied.stderr);

  const dry = await runKubectl(
    plane(),
    ["apply", "-f", "-", "--dry-run=server", "--validate=strict"],
    text,
  );
  const accepted = dry.stdout
    .trim()
    .split("\n")
    .filter((l) => l.endsWith("(server dry run)"))
    .map((l) => l.split(" ")[0])
    .sort();
  const expected = docs
    .filter((d) => !missingKinds.includes(d.kind))
    .map(kubectlName)
    .sort();
  assert.deepEqual(accepted, expected, dry.stdout + dry.stderr);
  // kubectl reports each object it cannot map (on one `error:` line, or several for several).
  const missing = docs.filter((d) => missingKinds.includes(d.kind));
  const unmapped = [
    ...dry.stderr.matchAll(
      /resource mapping not found for name: "([^"]*)" namespace: "[^"]*" from "STDIN": no matches for kind "([^"]+)" in version "([^"]+)"/g,
    ),
  ].map((m) => `${m[2]} ${m[3]} ${m[1]}`);
  assert.deepEqual(
    unmapped.sort(),
    missing.map((d) => `${d.kind} ${d.apiVersion} ${d.metadata.name}`).sort(),
    dry.stderr,
  );
  const otherErrors = dry.stderr
    .split("\n")
    .map((l) => l.replace(/^error: /, "").trim())
    .filter((l) => l !== "" && l !== "ensure CRDs are installed first")
    .filter((l) => !l.startsWith("resource mapping not found"));
  assert.deepEqual(otherErrors, [], dry.stderr);
  assert.equal(
    dry.code === 0,
    missing.length === 0,
    "kubectl fails exactly when a kind is unmapped",
  );
}

// ---------------------------------------------------------------------------------------------

/** Every value set away from its default. */
const EVERY_OPTION: Json = {
  image: {
    repository: "registry.example.com/platform/kube-external-sync",
    tag: "2.0.1",
    digest: `sha256:${"ab".repeat(32)}`,
    pullPolicy: "Always",
  },
  imagePullSecrets: [{ name: "registry-credentials" }],
  replicaCount: 3,
  revisionHistoryLimit: 2,
  logLevel: "debug",
  config: {
    sourceNamespaces: ["develop", "staging"],
    excludeNamespaces: ["kube-system", "monitoring", "sandbox-.*"],
    externalNameSuffix: "svc.cluster.example",
    defaultTopLevelDomain: "*.preview.example.com",
    sourceSelector: "team in (a,b),!legacy",
    traefikMiddlewares: "local",
    traefikBackends: "source",
    gatewayBackends: "local",
  },
  traefik: true,
  traefikV2: true,
  gatewayApi: true,
  tlsSecrets: true,
  hooks: { timeout: "15s" },
  resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
  podSecurityContext: {
    runAsNonRoot: true,
    runAsUser: 10001,
    runAsGroup: 10001,
    fsGroup: 10001,
    seccompProfile: { type: "RuntimeDefault" },
  },
  securityContext: {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: 10001,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  },
  nodeSelector: { "kubernetes.io/os": "linux" },
  tolerations: [{ key: "dedicated", operator: "Equal", value: "platform", effect: "NoSchedule" }],
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          { matchExpressions: [{ key: "kubernetes.io/arch", operator: "In", values: ["amd64"] }] },
        ],
      },
    },
  },
  topologySpreadConstraints: [
    {
      maxSkew: 1,
      topologyKey: "topology.kubernetes.io/zone",
      whenUnsatisfiable: "DoNotSchedule",
      labelSelector: {
        matchLabels: {
          "app.kubernetes.io/name": "kube-external-sync",
          "app.kubernetes.io/component": "hooks",
        },
      },
    },
  ],
  podAnnotations: { "example.com/owner": "platform" },
  podLabels: { "example.com/tier": "control" },
  priorityClassName: "system-cluster-critical",
  terminationGracePeriodSeconds: 40,
  commonLabels: { "example.com/team": "platform" },
  podDisruptionBudget: { enabled: true, minAvailable: "50%" },
  networkPolicy: {
    enabled: true,
    metacontroller: {
      namespace: "mc-system",
      podLabels: { "app.kubernetes.io/name": "metacontroller-operator" },
    },
    extraFrom: [
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
    ],
  },
  serviceMonitor: {
    enabled: true,
    interval: "15s",
    scrapeTimeout: "5s",
    labels: { release: "prometheus" },
  },
};

/** Bad values and the message naming the field that each must fail with (values.schema.json). */
const BAD_VALUES: readonly [string[], RegExp][] = [
  [
    ["--set", "config.gatewayBackends=remote"],
    /at '\/config\/gatewayBackends': value must be one of 'source', 'local'/,
  ],
  [
    ["--set", "config.sourceNamespaces={develop,Not_A_Namespace}"],
    /at '\/config\/sourceNamespaces\/1'/,
  ],
  [
    ["--set", "config.gatewayBackend=local"],
    /at '\/config': additional properties 'gatewayBackend' not allowed/,
  ],
  [["--set", "config.defaultTopLevelDomain=example..com"], /at '\/config\/defaultTopLevelDomain'/],
  [
    ["--set", "config.traefikBackends=remote"],
    /at '\/config\/traefikBackends': value must be one of 'local', 'source'/,
  ],
  [["--set", "traefik=yes"], /at '\/traefik': got string, want boolean/],
  [["--set", "tlsSecrets=yes"], /at '\/tlsSecrets': got string, want boolean/],
  [["--set", "replicaCount=-1"], /at '\/replicaCount': minimum: got -1, want 0/],
  [
    ["--set", "networkPolicy.metacontroller.namespace=Bad_Name"],
    /at '\/networkPolicy\/metacontroller\/namespace'/,
  ],
  [["--set", "replicas=3"], /at '': additional properties 'replicas' not allowed/],
];

const DEFAULT_KINDS = [
  "ConfigMap",
  "DecoratorController",
  "Deployment",
  "NetworkPolicy",
  "PodDisruptionBudget",
  "Service",
  "ServiceAccount",
];

interface PodTemplateView {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: {
    containers: {
      image: string;
      imagePullPolicy: string;
      env: { name: string; value?: string }[];
      resources: Json;
      securityContext: Json;
    }[];
    [field: string]: Json | undefined;
  };
}

function podTemplate(docs: readonly Rendered[]): PodTemplateView {
  return (only(docs, "Deployment").spec as unknown as { template: PodTemplateView }).template;
}

describe("charts/kube-external-sync with Helm 3 and Helm 4", () => {
  test("each Helm is the pinned release", async () => {
    for (const [major, release] of [
      [4, /^v4\.3\.1\b/],
      [3, /^v3\.22\.0\b/],
    ] as const) {
      const r = await helm(["version", "--template", "{{ .Version }}"], major);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.trim(), release, `helm v${major}`);
    }
  });

  for (const major of HELM_MAJORS) {
    test(`helm v${major}: lint --strict passes with the defaults and with every option`, async () => {
      const plain = await helm(["lint", "--strict", CHART], major);
      assert.equal(plain.code, 0, plain.stdout + plain.stderr);
      assert.match(plain.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      await withValues(EVERY_OPTION, async (file) => {
        const all = await helm(["lint", "--strict", CHART, "--values", file], major);
        assert.equal(all.code, 0, all.stdout + all.stderr);
        assert.match(all.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      });
    });
  }

  test("helm v3 and v4 template the same documents, byte for byte, with the defaults and with every option", async () => {
    const v4 = await templateWith(4, []);
    const v3 = await templateWith(3, []);
    assert.deepEqual(v4.docs.map((d) => d.kind).sort(), DEFAULT_KINDS);
    assert.deepEqual(documentTexts(v3.text), documentTexts(v4.text), "defaults");
    await withValues(EVERY_OPTION, async (file) => {
      const every4 = await templateWith(4, [file]);
      const every3 = await templateWith(3, [file]);
      assert.ok(every4.docs.some((d) => d.kind === "ServiceMonitor"));
      assert.deepEqual(documentTexts(every3.text), documentTexts(every4.text), "every option");
    });
  });

  for (const major of HELM_MAJORS) {
    test(`helm v${major}: bad values fail with the field named`, async () => {
      for (const [args, message] of BAD_VALUES) {
        const r = await helm(
          ["template", "kube-external-sync", CHART, "--namespace", NS, ...args],
          major,
        );
        assert.notEqual(r.code, 0, args.join(" "));
        assert.match(r.stderr, message, args.join(" "));
        assert.equal(r.stdout, "", args.join(" "));
      }
    });
  }
});

describe("charts/kube-external-sync", () => {
  test("defaults: the package's objects, every one accepted by the API server", async () => {
    const { text, docs } = await template();
    assert.deepEqual(docs.map((d) => d.kind).sort(), DEFAULT_KINDS);
    for (const d of docs) {
      const clusterScoped = d.kind === "DecoratorController";
      assert.equal(d.metadata.namespace, clusterScoped ? undefined : NS, `${d.kind} namespace`);
    }
    await assertDryRun(text, docs, []);
  });

  test("the default rendering and the Kustomize package render the same objects", async () => {
    const kustomized = await kubectl("kustomize", "metacontroller/");
    assert.equal(kustomized.code, 0, kustomized.stderr);
    const pkg = (loadAll(kustomized.stdout) as Rendered[]).filter((d) => d.kind !== "Namespace");
    const { docs } = await template();

    // The DecoratorController: byte-equal once serialised the same way.
    assert.equal(
      dump(only(docs, "DecoratorController"), { sortKeys: true }),
      dump(only(pkg, "DecoratorController"), { sortKeys: true }),
    );

    // The configuration: the same settings (the package's file has comments, the chart's none).
    const chartConfig = load(only(docs, "ConfigMap").data?.["config.yaml"] ?? "");
    const pkgConfig = load(only(pkg, "ConfigMap").data?.["config.yaml"] ?? "");
    assert.deepEqual(chartConfig, pkgConfig);
    assert.ok(parseConfig(chartConfig, NS), "the server accepts the chart's configuration");

    // Everything else byte-equal, once the two ways of rolling pods on a config change are set
    // aside: Kustomize's hash-suffixed ConfigMap name, Helm's checksum annotation.
    const configMapName = only(pkg, "ConfigMap").metadata.name;
    assert.match(configMapName, /^kube-external-sync-config-[a-z0-9]{10}$/);
    assert.equal(only(docs, "ConfigMap").metadata.name, "kube-external-sync-config");
    const checksum = podTemplate(docs).metadata.annotations["checksum/config"];
    assert.match(checksum ?? "", /^[0-9a-f]{64}$/);
    const comparable = (set: readonly Rendered[]) =>
      set
        .map((d) => {
          const copy = structuredClone(d);
          if (copy.kind === "ConfigMap") {
            copy.metadata.name = "kube-external-sync-config";
            copy.data = {};
          }
          if (copy.kind === "Deployment") {
            const pod = (copy.spec as unknown as { template: PodTemplateView }).template;
            delete (pod.metadata as { annotations?: unknown }).annotations;
            const volumes = pod.spec.volumes as unknown as { configMap?: { name: string } }[];
            for (const v of volumes)
              if (v.configMap) v.configMap.name = "kube-external-sync-config";
          }
          return dump(copy, { sortKeys: true });
        })
        .sort();
    assert.deepEqual(comparable(docs), comparable(pkg));
  });

  for (const [values, components] of [
    [{ traefik: true }, ["traefik"]],
    [{ traefikV2: true }, ["traefik-v2"]],
    [{ gatewayApi: true }, ["gateway-api"]],
    [{ tlsSecrets: true }, ["tls-secrets"]],
    [
      { traefik: true, traefikV2: true, gatewayApi: true, tlsSecrets: true },
      ["traefik", "traefik-v2", "gateway-api", "tls-secrets"],
    ],
  ] as const) {
    test(`${Object.keys(values).join(", ")}: the DecoratorController of the package with ${components.join(", ")}`, async () => {
      const pkgController = only(
        (await renderPackage(plane(), components)) as Rendered[],
        "DecoratorController",
      );
      await withValues(values as unknown as Json, async (file) => {
        const { docs } = await template(file);
        assert.equal(
          dump(only(docs, "DecoratorController"), { sortKeys: true }),
          dump(pkgController, { sortKeys: true }),
        );
      });
    });
  }

  test("every option: each value lands where it should, and the API server accepts the objects", async () => {
    await withValues(EVERY_OPTION, async (file) => {
      const { text, docs } = await template(file);
      assert.deepEqual(docs.map((d) => d.kind).sort(), [...DEFAULT_KINDS, "ServiceMonitor"].sort());

      const deployment = only(docs, "Deployment").spec as unknown as {
        replicas: number;
        revisionHistoryLimit: number;
      };
      assert.equal(deployment.replicas, 3);
      assert.equal(deployment.revisionHistoryLimit, 2);
      const pod = podTemplate(docs);
      const container = pod.spec.containers[0];
      assert.ok(container);
      assert.equal(
        container.image,
        `registry.example.com/platform/kube-external-sync@sha256:${"ab".repeat(32)}`,
        "a digest wins over the tag",
      );
      assert.equal(container.imagePullPolicy, "Always");
      assert.equal(container.env.find((e) => e.name === "LOG_LEVEL")?.value, "debug");
      const every = EVERY_OPTION as { [k: string]: Json };
      assert.deepEqual(container.resources, every.resources);
      assert.deepEqual(container.securityContext, every.securityContext);
      assert.deepEqual(pod.spec.securityContext, every.podSecurityContext);
      for (const field of [
        "nodeSelector",
        "tolerations",
        "affinity",
        "topologySpreadConstraints",
        "priorityClassName",
        "imagePullSecrets",
        "terminationGracePeriodSeconds",
      ]) {
        assert.deepEqual(pod.spec[field], every[field], field);
      }
      assert.equal(pod.metadata.annotations["example.com/owner"], "platform");
      assert.equal(pod.metadata.labels["example.com/tier"], "control");
      for (const d of docs) {
        assert.equal(d.metadata.labels?.["example.com/team"], "platform", `${d.kind} commonLabels`);
      }

      const config = parseConfig(load(only(docs, "ConfigMap").data?.["config.yaml"] ?? ""), NS);
      assert.deepEqual(config.sourceNamespaces, ["develop", "staging"]);
      assert.equal(config.externalNameSuffix, "svc.cluster.example");
      assert.equal(config.defaultTopLevelDomain, "preview.example.com");
      assert.equal(config.traefikMiddlewares, "local");
      assert.equal(config.traefikBackends, "source");
      assert.equal(config.gatewayBackends, "local");
      assert.ok(config.excludeNamespaces.matches("sandbox-1"));

      const controller = only(docs, "DecoratorController").spec as unknown as {
        attachments: unknown[];
        hooks: Record<string, { webhook: { timeout: string } }>;
      };
      assert.equal(controller.attachments.length, 13);
      assert.equal(controller.hooks.sync?.webhook.timeout, "15s");
      assert.equal(controller.hooks.customize?.webhook.timeout, "15s");

      assert.deepEqual(
        (only(docs, "PodDisruptionBudget").spec as { minAvailable: Json }).minAvailable,
        "50%",
      );
      const policy = only(docs, "NetworkPolicy").spec as unknown as { ingress: { from: Json[] }[] };
      assert.deepEqual(policy.ingress[0]?.from, [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "mc-system" } },
          podSelector: { matchLabels: { "app.kubernetes.io/name": "metacontroller-operator" } },
        },
        { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
      ]);
      const monitor = only(docs, "ServiceMonitor");
      assert.equal(monitor.metadata.labels?.release, "prometheus");
      assert.deepEqual((monitor.spec as { endpoints: Json }).endpoints, [
        { port: "http", path: "/metrics", interval: "15s", scrapeTimeout: "5s" },
      ]);

      await assertDryRun(text, docs, ["ServiceMonitor"]);
    });
  });

  test("a config change changes the pods' checksum annotation (it rolls them); nothing else does", async () => {
    const checksum = async (values: Json) =>
      withValues(values, async (file) => {
        const { docs } = await template(file);
        return podTemplate(docs).metadata.annotations["checksum/config"];
      });
    const base = await checksum({});
    assert.equal(await checksum({ replicaCount: 5, podAnnotations: { a: "b" } }), base);
    assert.notEqual(await checksum({ config: { defaultTopLevelDomain: "*.example.com" } }), base);
  });
});

// ---------------------------------------------------------------------------------------------

describe("helm install: the running product, as kubectl apply -k gives it", () => {
  /** Namespaces of this scenario alone: the release's, the source and a feature namespace. */
  const RELEASE_NS = "kes-helm";
  const SOURCE = "helm-src";
  const TARGET = "helm-a";
  const CONVERGE_MS = 120_000;

  test("installed with Helm, Metacontroller mirrors a Service and an Ingress into a new namespace, which reaches Synced", {
    timeout: 10 * 60_000,
  }, async () => {
    const cp = plane();
    const client = new KubeClient(cp);
    const install = await helm([
      "install",
      "kube-external-sync",
      CHART,
      "--namespace",
      RELEASE_NS,
      "--create-namespace",
      "--kubeconfig",
      cp.kubeconfigPath,
      "--set",
      `config.sourceNamespaces={${SOURCE}}`,
      "--set",
      "config.defaultTopLevelDomain=*.example.com",
    ]);
    assert.equal(install.code, 0, install.stdout + install.stderr);

    // The hook, a local process, runs with the configuration the release installed.
    const configMap = await client.get(
      resourcePath("v1", "configmaps", RELEASE_NS, "kube-external-sync-config"),
    );
    const configFile = path.join(cp.dir, "helm-hook-config.yaml");
    await writeFile(configFile, (configMap.data as Record<string, string>)["config.yaml"] ?? "");
    const hook = await startHookServer({ configFile, dir: cp.dir });
    cp.track(hook.process);

    // Only the installed controller's webhooks change, as the harness changes the package's:
    // then it is the very controller the Kustomize package runs in metacontroller.test.ts.
    const dcPath = "/apis/metacontroller.k8s.io/v1alpha1/decoratorcontrollers/kube-external-sync";
    const installed = await client.get(dcPath);
    assert.equal(installed.metadata.labels?.[MANAGED_BY_LABEL], "Helm");
    const replaced = await client.request("PUT", dcPath, pointWebhooksAt(installed, hook.url));
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    const viaKustomize = await loopbackDecoratorController(cp, hook.url);
    assert.deepEqual((replaced.body as { spec: Json }).spec, viaKustomize.spec);
    // Started once the webhooks reach the hook (here no Service of the release can answer).
    const metacontroller = await startMetacontroller(cp);

    for (const name of [SOURCE, TARGET]) {
      const r = await client.request("POST", resourcePath("v1", "namespaces"), {
        metadata: { name },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const annotations = { [REPLICATE_TO]: "helm-.*" };
    const sources = [
      build.service("api", { namespace: SOURCE, annotations }),
      build.ingress("web", {
        namespace: SOURCE,
        annotations,
        hosts: [`web.${SOURCE}.example.com`],
      }),
    ];
    for (const source of sources) {
      const resource = source.kind === "Service" ? "services" : "ingresses";
      const r = await client.request(
        "POST",
        resourcePath(source.apiVersion, resource, SOURCE),
        build.manifest(source),
      );
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }

    const mirrors = [
      resourcePath("v1", "services", TARGET, "api"),
      resourcePath("networking.k8s.io/v1", "ingresses", TARGET, "web"),
    ];
    await waitFor(
      `the mirrors of api and web in ${TARGET}, and its state ${State.Synced}`,
      CONVERGE_MS,
      async () => {
        for (const mirror of mirrors) {
          const r = await client.request("GET", mirror);
          const labels = (r.body as unknown as KubeObject).metadata?.labels;
          if (r.status !== 200 || labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) return undefined;
        }
        const ns = await client.get(resourcePath("v1", "namespaces", undefined, TARGET));
        return ns.metadata.labels?.[Label.state] === State.Synced ? true : undefined;
      },
      [metacontroller.process, hook.process],
    );
    const ns = await client.get(resourcePath("v1", "namespaces", undefined, TARGET));
    assert.equal(ns.metadata.annotations?.[Annotation.hosts], `web.${TARGET}.example.com`);
    assert.equal(ns.metadata.annotations?.[Annotation.status], undefined, "nothing to report");
    const service = await client.get(mirrors[0] as string);
    assert.equal(
      (service.spec as { externalName?: string }).externalName,
      `api.${SOURCE}.svc.cluster.local`,
    );
  });
});
