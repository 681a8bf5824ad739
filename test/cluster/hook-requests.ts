// What the cluster tests and the demo share to drive the package and the hook against a live
// control plane: applying the example sources, the server-side dry run of the rendered package,
// Metacontroller's customize and sync calls (v1 hook shape) for a Namespace read from the API
// server, what the answer writes on the namespace (state label, hosts and status annotations), and
// dry-running every object the hook returns.
//
// The assert* helpers are for the tests; the demo uses the others and reports instead of failing.

import assert from "node:assert/strict";
import { Annotation, Label, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../../lib/constants.ts";
import type { NamespaceStatus } from "../../lib/status.ts";
import { postJson } from "../support/net.ts";
import { type ControlPlane, runKubectl } from "./control-plane.ts";
import type { HookServer } from "./hook-server.ts";
import {
  type ApiResponse,
  type CommandResult,
  type Json,
  type KubeClient,
  type KubeObject,
  resourcePath,
  type SyncRequest,
  type SyncResponse,
} from "./kube.ts";
import { type ManagedProcess, waitFor } from "./processes.ts";

type Kubectl = Pick<ControlPlane, "binaries" | "kubeconfigPath">;
/** Where the hook server listens (on 127.0.0.1). */
type HookAddress = Pick<HookServer, "port">;

export const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
export const STATUS_ANNOTATION = Annotation.status;
export const HOSTS_ANNOTATION = Annotation.hosts;
export const STATE_LABEL = Label.state;

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

/** A hook call (POST of JSON) that must answer 200 with JSON. */
async function call(hook: HookAddress, hookPath: string, body: unknown): Promise<unknown> {
  const reply = await postJson(hook.port, hookPath, body, { timeoutMs: 30_000 });
  assert.equal(reply.status, 200, `${hookPath}: ${reply.text}`);
  return JSON.parse(reply.text) as unknown;
}

/** Metacontroller's customize call for the Namespace `namespace` as the API server returns it. */
export async function customize(
  client: KubeClient,
  hook: HookAddress,
  controller: Json,
  namespace: string,
): Promise<{ parent: KubeObject; rules: RelatedRule[] }> {
  const parent = await client.get(resourcePath("v1", "namespaces", undefined, namespace));
  const answer = await call(hook, "/customize", { controller, parent });
  const rules = (answer as { relatedResources: RelatedRule[] }).relatedResources;
  return { parent, rules };
}

/** The status annotation's listing; an absent annotation (nothing to say) lists nothing. */
export function parseStatus(text: string | null | undefined): NamespaceStatus {
  if (text === null || text === undefined) return { skipped: [], invalid: [], omitted: 0 };
  const listed = JSON.parse(text) as Partial<NamespaceStatus>;
  return {
    skipped: listed.skipped ?? [],
    invalid: listed.invalid ?? [],
    omitted: listed.omitted ?? 0,
  };
}

/** What a sync answer writes on its namespace: `null` removes the key. */
export interface NamespaceOutputs {
  state: string | null;
  hosts: string | null;
  status: string | null;
}

/** The namespace keys of a sync answer; it names each of them, with a value or `null`. */
export function outputsOf(answer: SyncResponse): NamespaceOutputs {
  const labels = answer.labels ?? {};
  const annotations = answer.annotations ?? {};
  for (const [keys, key] of [
    [labels, STATE_LABEL],
    [annotations, HOSTS_ANNOTATION],
    [annotations, STATUS_ANNOTATION],
  ] as const) {
    assert.ok(key in keys, `the answer names ${key} (a value or null)`);
  }
  return {
    state: labels[STATE_LABEL] ?? null,
    hosts: annotations[HOSTS_ANNOTATION] ?? null,
    status: annotations[STATUS_ANNOTATION] ?? null,
  };
}

/** The same keys as a namespace holds them: an absent key is `null`. */
export function outputsOnNamespace(ns: KubeObject): NamespaceOutputs {
  return {
    state: ns.metadata.labels?.[STATE_LABEL] ?? null,
    hosts: ns.metadata.annotations?.[HOSTS_ANNOTATION] ?? null,
    status: ns.metadata.annotations?.[STATUS_ANNOTATION] ?? null,
  };
}

/**
 * Waits until the state label, hosts and status annotations on `namespace` satisfy `ok`; fails at
 * once when a process of `watch` exits.
 */
export function outputsSettle(
  client: KubeClient,
  namespace: string,
  what: string,
  ok: (outputs: NamespaceOutputs) => boolean,
  timeoutMs: number,
  watch: readonly ManagedProcess[],
): Promise<NamespaceOutputs> {
  const apiPath = resourcePath("v1", "namespaces", undefined, namespace);
  return waitFor(
    `${namespace} to show ${what}`,
    timeoutMs,
    async () => {
      const r = await client.request("GET", apiPath);
      if (r.status === 404) return undefined;
      assert.equal(r.status, 200, `GET ${apiPath}: ${JSON.stringify(r.body)}`);
      const outputs = outputsOnNamespace(r.body as unknown as KubeObject);
      return ok(outputs) ? outputs : undefined;
    },
    watch,
  );
}

/**
 * Metacontroller's sync call: the hook answers 200 and names the state label and the hosts and
 * status annotations for the parent; `status` is the listing (empty when the annotation is
 * removed, as it is when there is nothing to say).
 */
export async function sync(
  hook: HookAddress,
  request: SyncRequest,
): Promise<{ answer: SyncResponse; outputs: NamespaceOutputs; status: NamespaceStatus }> {
  const answer = (await call(hook, "/sync", request)) as SyncResponse;
  const outputs = outputsOf(answer);
  return { answer, outputs, status: parseStatus(outputs.status) };
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
    assert.equal(obj.metadata.labels?.[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
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
