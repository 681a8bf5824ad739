import { z } from "zod";
import type { CustomizeRequest, KubeObject, ObjectMap, SyncRequest } from "./types.ts";

// Validation of Metacontroller's hook requests. Anything malformed is a RequestError (HTTP 400):
// answering 200 on a request we do not understand would delete mirrors.

export class RequestError extends Error {
  override name = "RequestError";
}

const stringMap = z.record(z.string(), z.string());
const kubeObject = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({
    name: z.string().min(1),
    namespace: z.string().optional(),
    labels: stringMap.nullish().transform((v) => v ?? undefined),
    annotations: stringMap.nullish().transform((v) => v ?? undefined),
  }),
});
// Metacontroller sends every group it was asked for, empty or not: a null group is malformed.
const objectMap = z.record(z.string(), z.record(z.string(), kubeObject));
const controller = z.looseObject({
  metadata: z.looseObject({ name: z.string().min(1) }),
  spec: z.looseObject({
    attachments: z
      .array(z.looseObject({ apiVersion: z.string().min(1), resource: z.string().min(1) }))
      .min(1, { error: "the DecoratorController declares no attachments" }),
  }),
});

// Hook version v1 sends the namespace as `object` and our mirrors as `attachments`; v2 names them
// `parent` and `children`. Both are accepted.
const syncSchema = z.looseObject({
  controller,
  object: kubeObject.optional(),
  parent: kubeObject.optional(),
  attachments: objectMap.nullish(),
  children: objectMap.nullish(),
  related: objectMap.nullish(),
  finalizing: z.boolean().optional(),
});
const customizeSchema = z.looseObject({
  controller,
  parent: kubeObject.optional(),
  object: kubeObject.optional(),
});

/** `request.related["Service.v1"]["develop/api"].metadata`: map keys quoted, like kubectl paths. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) =>
      typeof p === "number"
        ? `[${p}]`
        : /^[A-Za-z_]\w*$/.test(String(p))
          ? `.${String(p)}`
          : `[${JSON.stringify(String(p))}]`,
    )
    .reduce((out, seg) => out + seg, "request");
}

function describe(error: z.ZodError): string {
  const lines = error.issues.slice(0, 5).map((i) => `${fieldPath(i.path)}: ${i.message}`);
  if (error.issues.length > 5) lines.push(`(${error.issues.length - 5} more)`);
  return `invalid hook request: ${lines.join("; ")}`;
}

function namespaceOf(parent: KubeObject | undefined, field: string): KubeObject {
  if (parent === undefined)
    throw new RequestError(`invalid hook request: request.${field}: required (the Namespace)`);
  if (parent.kind !== "Namespace" || parent.apiVersion !== "v1") {
    throw new RequestError(
      `invalid hook request: request.${field}: expected a v1 Namespace, got ${JSON.stringify(`${parent.apiVersion} ${parent.kind}`)}`,
    );
  }
  return parent;
}

export function parseSyncRequest(body: unknown): SyncRequest {
  const r = syncSchema.safeParse(body);
  if (!r.success) throw new RequestError(describe(r.error));
  const req = r.data;
  // Name the field of the hook version the request looks like: v2 sends `children`.
  const field =
    req.object === undefined && (req.parent !== undefined || req.children != null)
      ? "parent"
      : "object";
  return {
    controllerName: req.controller.metadata.name,
    attachmentRules: req.controller.spec.attachments,
    namespace: namespaceOf(req.object ?? req.parent, field),
    attachments: (req.attachments ?? req.children ?? {}) as ObjectMap,
    related: (req.related ?? {}) as ObjectMap,
  };
}

export function parseCustomizeRequest(body: unknown): CustomizeRequest {
  const r = customizeSchema.safeParse(body);
  if (!r.success) throw new RequestError(describe(r.error));
  const req = r.data;
  return {
    attachmentRules: req.controller.spec.attachments,
    namespace: namespaceOf(
      req.parent ?? req.object,
      // Both hook versions send `parent` to customize; `object` is accepted too.
      req.parent === undefined && req.object !== undefined ? "object" : "parent",
    ),
  };
}
