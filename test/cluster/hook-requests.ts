// What the cluster tests and the demo share to drive the package and the hook against a live
// control plane: applying the example sources, the server-side dry run of the rendered package,
// Metacontroller's customize and sync calls (v1 hook shape) for a Namespace read from the API
// server, the status annotation of the answer, and dry-running every object the hook returns.
//
// The assert* helpers are for the tests; the demo uses the others and reports instead of failing.

import assert from "node:assert/strict";
import type { NamespaceStatus } from "../../lib/status.ts";
import { type ControlPlane, runKubectl } from "./control-plane.ts";
import {
  type ApiResponse,
  type CommandResult,
  type Json,
  type KubeClient,
  type KubeObject,
  postJson,
  resourcePath,
  type SyncRequest,
  type SyncResponse,
} from "./kube.ts";

type Kubectl = Pick<ControlPlane, "binaries" | "kubeconfigPath">;

export const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
export const STATUS_ANNOTATION = "kube-external-sync.io/status";
const MANAGED_BY = "app.kubernetes.io/managed-by";

/** The Service and Ingress sources in develop and the feature namespaces, as in examples/. */
export const EXAMPLE_SOURCES = ["examples/develop.yaml", "examples/feature-namespaces.yaml"];

/** `kubectl apply` of EXAMPLE_SOURCES. */
export function applyExampleSources(cp: Kubectl): Promise<CommandResult> {
  return runKubectl(cp, ["apply", ...EXAMPLE_SOURCES.flatMap((f) => ["-f", f])]);
}

// ---------------------------------------------------------------------------------------------
// The package

/**
 * `kubectl apply -k <kustomization> --dry-run=server --validate=strict`, where `docs` is what
 * `kubectl kustomize <kustomization>` rendered: the API server, which serves Metacontroller's CRDs,
 * accepts every object, the DecoratorController included. A namespaced object cannot be dry-run
 * into a namespace that does not exist (the NamespaceLifecycle admission plugin rejects it), so
 * `namespace` is created for real first.
 */
export async function assertPackageDryRun(
  cp: Kubectl,
  kustomization: string,
  docs: readonly KubeObject[],
  namespace: KubeObject,
): Promise<void> {
  const created = await runKubectl(cp, ["apply", "-f", "-"], JSON.stringify(namespace));
  assert.equal(created.code, 0, created.stderr);

  const dry = await runKubectl(cp, [
    "apply",
    "-k",
    kustomization,
    "--dry-run=server",
    "--validate=strict",
  ]);
  assert.equal(dry.code, 0, dry.stderr);
  // One line per object kubectl sent; every one went through.
  const accepted = dry.stdout
    .trim()
    .split("\n")
    .filter((l) => l.endsWith("(server dry run)"))
    .map((l) => l.split(" ")[0]);
  const expected = docs.map((d) => {
    const [group] = d.apiVersion.split("/");
    const kind = d.kind.toLowerCase();
    return d.apiVersion.includes("/")
      ? `${kind}.${group}/${d.metadata.name}`
      : `${kind}/${d.metadata.name}`;
  });
  assert.deepEqual(accepted.sort(), expected.sort(), dry.stdout + dry.stderr);
}

/**
 * Reads an object of an applied file back: it exists, kubectl apply added its last-applied
 * annotation (which the hook must not copy), and otherwise it has the file's annotations.
 */
export async function assertReadBack(
  client: KubeClient,
  d: KubeObject,
  resource: string,
): Promise<KubeObject> {
  const live = await client.get(
    resourcePath(d.apiVersion, resource, d.metadata.namespace, d.metadata.name),
  );
  assert.ok(live.metadata.uid, `${d.kind} ${d.metadata.name}`);
  const { [LAST_APPLIED]: lastApplied, ...annotations } = live.metadata.annotations ?? {};
  assert.ok(lastApplied, `${d.kind} ${d.metadata.name} was created by kubectl apply`);
  assert.deepEqual(annotations, { ...d.metadata.annotations });
  return live;
}

// ---------------------------------------------------------------------------------------------
// Hook calls

/** One entry of the customize answer's relatedResources. */
export interface RelatedRule {
  apiVersion: string;
  resource: string;
  namespace: string;
  labelSelector?: Json;
  names?: string[];
}

/** Metacontroller's customize call for the Namespace `namespace` as the API server returns it. */
export async function customize(
  client: KubeClient,
  hookUrl: string,
  controller: Json,
  namespace: string,
): Promise<{ parent: KubeObject; rules: RelatedRule[] }> {
  const parent = await client.get(resourcePath("v1", "namespaces", undefined, namespace));
  const res = await postJson(`${hookUrl}/customize`, { controller, parent });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const rules = (res.json as unknown as { relatedResources: RelatedRule[] }).relatedResources;
  return { parent, rules };
}

export function statusAnnotation(answer: SyncResponse): string | undefined {
  return answer.annotations?.[STATUS_ANNOTATION];
}

/** Metacontroller's sync call: the hook answers 200, with its status annotation on the parent. */
export async function sync(
  hookUrl: string,
  request: SyncRequest,
): Promise<{ answer: SyncResponse; status: NamespaceStatus }> {
  const res = await postJson(`${hookUrl}/sync`, request);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const answer = res.json as unknown as SyncResponse;
  const statusText = statusAnnotation(answer);
  assert.ok(statusText, "the answer carries the status annotation");
  return { answer, status: JSON.parse(statusText) as NamespaceStatus };
}

// ---------------------------------------------------------------------------------------------
// Dry runs of the answers

export type DryRunCreate = (obj: KubeObject) => Promise<ApiResponse>;

export interface DryRunVerdict {
  obj: KubeObject;
  response: ApiResponse;
  /** Created (201) without a warning. */
  accepted: boolean;
}

/** Each object through `dryRunCreate` (a create with dryRun=All and strict field validation). */
export async function dryRunEach(
  objs: readonly KubeObject[],
  dryRunCreate: DryRunCreate,
): Promise<DryRunVerdict[]> {
  const verdicts: DryRunVerdict[] = [];
  for (const obj of objs) {
    const response = await dryRunCreate(obj);
    const accepted = response.status === 201 && response.warnings.length === 0;
    verdicts.push({ obj, response, accepted });
  }
  return verdicts;
}

/**
 * Every object the hook returned for `namespace`, and the parent's new metadata, through a
 * server-side dry run. The objects carry the managed-by label, never kubectl's last-applied
 * annotation, and live in `namespace` (except ReferenceGrants, which go where the Services are).
 */
export async function assertAccepted(
  client: KubeClient,
  namespace: string,
  answer: SyncResponse,
  dryRunCreate: DryRunCreate = (obj) => client.dryRunCreate(obj),
): Promise<void> {
  for (const obj of answer.attachments) {
    assert.equal(obj.metadata.annotations?.[LAST_APPLIED], undefined, "never copied");
    assert.equal(obj.metadata.labels?.[MANAGED_BY], "kube-external-sync");
    if (obj.kind !== "ReferenceGrant") assert.equal(obj.metadata.namespace, namespace);
  }
  const rejected = (await dryRunEach(answer.attachments, dryRunCreate))
    .filter((v) => !v.accepted)
    .map(
      ({ obj, response: r }) =>
        `${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}: ${r.status} ${r.warnings.join("; ")} ${JSON.stringify(r.body)}`,
    );
  assert.deepEqual(rejected, [], "every returned object is accepted by the API server");
  const patch = await client.request(
    "PATCH",
    `${resourcePath("v1", "namespaces", undefined, namespace)}?dryRun=All&fieldValidation=Strict`,
    { metadata: { labels: answer.labels ?? {}, annotations: answer.annotations ?? {} } },
    "application/merge-patch+json",
  );
  assert.equal(patch.status, 200, JSON.stringify(patch.body));
}
