// Services and Ingresses on the API server as the end-to-end suites write and read them: requests
// that must succeed, and waits (polling, with a timeout) for a mirror to appear or to go.

import assert from "node:assert/strict";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../../lib/constants.ts";
import { manifest } from "../support/builders.ts";
import { type KubeClient, type KubeObject, kindOf, resourcePath } from "./kube.ts";
import { type ManagedProcess, waitFor } from "./processes.ts";

export type Kind = "Service" | "Ingress";
export const API: Record<Kind, { apiVersion: string; resource: string }> = {
  Service: { apiVersion: "v1", resource: "services" },
  Ingress: { apiVersion: "networking.k8s.io/v1", resource: "ingresses" },
};

export function pathOf(kind: Kind, namespace: string, name?: string): string {
  return resourcePath(API[kind].apiVersion, API[kind].resource, namespace, name);
}

export function isMirror(obj: KubeObject | undefined): boolean {
  return obj?.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

export function portOf(svc: KubeObject): number | undefined {
  return (svc.spec as { ports?: { port: number }[] }).ports?.[0]?.port;
}

export interface SuiteAccess {
  /** The suite's client (its control plane starts in `before`). */
  client: () => KubeClient;
  /** How long a mirror may take to appear or go. */
  convergeMs: number;
  /** The processes whose death fails a wait at once (Metacontroller can be restarted). */
  watch: () => readonly ManagedProcess[];
}

/** Requests and waits of a suite, as plain functions. */
export function suiteObjects({ client, convergeMs, watch }: SuiteAccess) {
  async function created(apiPath: string, obj: unknown): Promise<KubeObject> {
    const r = await client().request("POST", apiPath, obj);
    assert.equal(r.status, 201, `POST ${apiPath}: ${JSON.stringify(r.body)}`);
    return r.body as unknown as KubeObject;
  }

  /** Creates an object from the shared builders (test/support/builders.ts), as a client would. */
  function create(built: KubeObject): Promise<KubeObject> {
    const resource = built.kind === "Namespace" ? "namespaces" : kindOf(built.kind).resource;
    const path = resourcePath(built.apiVersion, resource, built.metadata.namespace);
    return created(path, manifest(built));
  }

  async function patch(apiPath: string, mergePatch: unknown): Promise<KubeObject> {
    const r = await client().request("PATCH", apiPath, mergePatch, "application/merge-patch+json");
    assert.equal(r.status, 200, `PATCH ${apiPath}: ${JSON.stringify(r.body)}`);
    return r.body as unknown as KubeObject;
  }

  async function remove(apiPath: string): Promise<void> {
    const r = await client().request("DELETE", apiPath);
    assert.ok(r.status === 200 || r.status === 202, `DELETE ${apiPath}: ${JSON.stringify(r.body)}`);
  }

  async function getMaybe(apiPath: string): Promise<KubeObject | undefined> {
    const r = await client().request("GET", apiPath);
    if (r.status === 404) return undefined;
    assert.equal(r.status, 200, `GET ${apiPath}: ${JSON.stringify(r.body)}`);
    return r.body as unknown as KubeObject;
  }

  /** Waits until the mirror `kind/name` exists in `namespace` and satisfies `ok`. */
  function mirrorIn(
    kind: Kind,
    namespace: string,
    name: string,
    ok: (obj: KubeObject) => boolean = () => true,
  ): Promise<KubeObject> {
    return waitFor(
      `${kind} mirror ${namespace}/${name}`,
      convergeMs,
      async () => {
        const obj = await getMaybe(pathOf(kind, namespace, name));
        return obj && isMirror(obj) && ok(obj) ? obj : undefined;
      },
      watch(),
    );
  }

  function goneFrom(kind: Kind, namespace: string, name: string): Promise<true> {
    return waitFor(
      `${kind} ${namespace}/${name} to be deleted`,
      convergeMs,
      async () => ((await getMaybe(pathOf(kind, namespace, name))) ? undefined : true),
      watch(),
    );
  }

  return { created, create, patch, remove, getMaybe, mirrorIn, goneFrom };
}
