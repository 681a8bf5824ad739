// Small helpers shared by the cluster tests and the demo: a raw Kubernetes API client, kubectl,
// and building a sync request for the hook from live objects.
//
// The API client is plain HTTPS (test/support/net.ts) on purpose. @kubernetes/client-node's typed APIs re-serialize
// bodies through their models, which silently drops fields they do not know and rewrites
// timestamps; to validate the hook's exact output (and to send the hook objects exactly as the API
// server returns them, as Metacontroller does) the JSON must go through untouched.

import { spawn } from "node:child_process";
import { request } from "../support/net.ts";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface ApiResponse {
  status: number;
  body: Json;
  /** Values of the Warning headers (deprecated fields, dropped unknown fields, ...). */
  warnings: string[];
}

export interface ClusterAccess {
  server: string;
  token: string;
  ca: string;
}

/** The attachment kinds the shipped DecoratorController declares, with their related-map keys. */
export const KINDS = [
  { kind: "Service", apiVersion: "v1", resource: "services", key: "Service.v1" },
  {
    kind: "Ingress",
    apiVersion: "networking.k8s.io/v1",
    resource: "ingresses",
    key: "Ingress.networking.k8s.io/v1",
  },
] as const;

export function kindOf(kind: string): (typeof KINDS)[number] {
  const k = KINDS.find((x) => x.kind === kind);
  if (!k) throw new Error(`unexpected kind ${kind}`);
  return k;
}

export function resourcePath(
  apiVersion: string,
  resource: string,
  namespace?: string,
  name?: string,
): string {
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = namespace === undefined ? "" : `/namespaces/${encodeURIComponent(namespace)}`;
  const tail = name === undefined ? "" : `/${encodeURIComponent(name)}`;
  return `${base}${ns}/${resource}${tail}`;
}

export class KubeClient {
  private readonly access: ClusterAccess;
  /** The API server listens on 127.0.0.1 (control-plane.ts): only its port matters. */
  private readonly port: number;

  constructor(access: ClusterAccess) {
    this.access = access;
    this.port = Number(new URL(access.server).port);
  }

  async request(
    method: string,
    apiPath: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<ApiResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const reply = await request(this.port, apiPath, {
      method,
      headers: {
        authorization: `Bearer ${this.access.token}`,
        accept: "application/json",
        ...(payload === undefined ? {} : { "content-type": contentType }),
      },
      ...(payload === undefined ? {} : { body: payload }),
      tls: { ca: this.access.ca },
      timeoutMs: 30_000,
    });
    let parsed: Json = reply.text;
    try {
      parsed = JSON.parse(reply.text) as Json;
    } catch {
      // keep the text
    }
    const w = reply.headers.warning;
    const warnings = w === undefined ? [] : Array.isArray(w) ? w : [w];
    return { status: reply.status, body: parsed, warnings };
  }

  async get(apiPath: string): Promise<KubeObject> {
    const r = await this.request("GET", apiPath);
    if (r.status !== 200) throw new Error(`GET ${apiPath}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as unknown as KubeObject;
  }

  /** List items as the API server returns them, with apiVersion and kind filled in (a list's
   * items omit them; Metacontroller's informer objects carry them). */
  async list(apiVersion: string, kind: string, resource: string, namespace: string) {
    const r = await this.request("GET", resourcePath(apiVersion, resource, namespace));
    if (r.status !== 200) throw new Error(`list ${resource} in ${namespace}: ${r.status}`);
    const items = ((r.body as { items?: KubeObject[] }).items ?? []).map(
      (o) => ({ apiVersion, kind, ...(o as object) }) as KubeObject,
    );
    return items;
  }

  /** Create with dryRun=All and strict field validation: nothing is persisted, everything is
   * validated and admitted as a real create would be. */
  dryRunCreate(obj: KubeObject): Promise<ApiResponse> {
    const k = kindOf(obj.kind);
    if (obj.apiVersion !== k.apiVersion) {
      throw new Error(`${obj.kind} ${obj.metadata.name}: apiVersion ${obj.apiVersion}`);
    }
    const p = resourcePath(obj.apiVersion, k.resource, obj.metadata.namespace);
    return this.request("POST", `${p}?dryRun=All&fieldValidation=Strict`, obj);
  }
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCommand(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: opts.timeoutMs ?? 120_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

// ---------------------------------------------------------------------------------------------
// Hook requests

export interface SyncRequest {
  controller: Json;
  object: KubeObject;
  attachments: Record<string, Record<string, KubeObject>>;
  related: Record<string, Record<string, KubeObject>>;
  finalizing: boolean;
}

export interface SyncResponse {
  /** A value sets the key on the namespace, `null` removes it. */
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
  attachments: KubeObject[];
  resyncAfterSeconds?: number;
}

/**
 * A sync request in Metacontroller's v1 shape for a Namespace parent, built from live objects:
 * `object` is the Namespace as the API server returns it, `attachments` holds the objects in it
 * that Metacontroller manages for this parent (a controller owner reference to the Namespace's
 * UID; none where no Metacontroller runs), and `related` holds every Service and Ingress of
 * `relatedNamespaces`, keyed by "Kind.version" / "Kind.group/version", then "namespace/name"
 * (Go's encoding/json sorts map keys; so do we).
 */
export async function buildSyncRequest(
  client: KubeClient,
  controller: Json,
  namespace: string,
  relatedNamespaces: readonly string[],
): Promise<SyncRequest> {
  const object = await client.get(resourcePath("v1", "namespaces", undefined, namespace));
  const attachments: SyncRequest["attachments"] = {};
  const related: SyncRequest["related"] = {};
  for (const k of KINDS) {
    const byName: Record<string, KubeObject> = {};
    for (const ns of relatedNamespaces) {
      for (const o of await client.list(k.apiVersion, k.kind, k.resource, ns)) {
        byName[`${ns}/${o.metadata.name}`] = o;
      }
    }
    related[k.key] = sortedByKey(Object.entries(byName));
    const owned = (await client.list(k.apiVersion, k.kind, k.resource, namespace)).filter((o) =>
      ownedBy(o, object.metadata.uid as string),
    );
    attachments[k.key] = sortedByKey(owned.map((o) => [`${namespace}/${o.metadata.name}`, o]));
  }
  return { controller, object, attachments, related, finalizing: false };
}

/** Has a controller owner reference to `uid` (how Metacontroller tells its attachments). */
export function ownedBy(obj: KubeObject, uid: string): boolean {
  const refs = (obj.metadata.ownerReferences ?? []) as { uid?: string; controller?: boolean }[];
  return refs.some((r) => r.uid === uid && r.controller === true);
}

/** An object with its keys in byte order, as Go's encoding/json writes a map. */
export function sortedByKey<T>(entries: Iterable<[string, T]>): Record<string, T> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** One line per mirror: kind, namespace/name and where it points. */
export function describeMirror(obj: KubeObject): string {
  const spec = (obj.spec ?? {}) as {
    externalName?: string;
    rules?: { host?: string }[];
    tls?: { hosts?: string[]; secretName?: string }[];
  };
  const id = `${obj.kind}/${obj.metadata.name}`;
  if (obj.kind === "Service") return `${id} -> ExternalName ${spec.externalName ?? "?"}`;
  if (obj.kind === "Ingress") {
    const hosts = (spec.rules ?? []).map((r) => r.host ?? "*");
    const tls = (spec.tls ?? []).map((t) => t.secretName).filter(Boolean);
    return `${id} -> hosts ${hosts.join(", ")}${tls.length ? ` (TLS secret ${tls.join(", ")})` : ""}`;
  }
  return id;
}
