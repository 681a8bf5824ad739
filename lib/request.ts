import { z } from "zod";
import type { Config } from "./config.ts";
import { RequestError } from "./errors.ts";
import { type DeclaredKind, declaredKinds } from "./kinds/index.ts";
import { isRecord } from "./kinds/shapes.ts";
import type { AttachmentParent } from "./metadata.ts";
import { isEligibleNamespace } from "./targeting.ts";
import type { AttachmentRule, KubeObject, ObjectMap, ObjectsByName } from "./types.ts";

// Parsing of Metacontroller's hook requests: the only place that rejects one. Anything malformed
// is a RequestError (HTTP 400): answering 200 on a request we do not understand would delete
// mirrors. Only what the engine reads is checked (object identity and metadata; kinds read the
// rest defensively), and objects are used as parsed, never copied.

export { RequestError };

/** A sync request as the engine reads it, after normalising hook versions v1 and v2. */
export interface SyncInput {
  controllerName: string;
  /** The parent: a v1 Namespace. */
  namespace: KubeObject;
  /** The kinds the DecoratorController declares, in its order. */
  kinds: DeclaredKind[];
  /**
   * Our mirrors, then every object the customize hook asked for, by declared kind key. For an
   * eligible namespace every declared kind has a group in both.
   */
  attachments: ObjectMap;
  related: ObjectMap;
}

export interface CustomizeInput {
  namespace: KubeObject;
  kinds: DeclaredKind[];
}

/** The parent of the sync, as Metacontroller's child test reads it. */
export function attachmentParentOf(input: SyncInput): AttachmentParent {
  return { uid: input.namespace.metadata.uid, controllerName: input.controllerName };
}

/** Each group's objects by namespace, sorted by name; built on first use, once per request. */
const objectsByNamespace = new WeakMap<ObjectsByName, Map<string, KubeObject[]>>();

function indexByNamespace(group: ObjectsByName): Map<string, KubeObject[]> {
  const index = new Map<string, KubeObject[]>();
  for (const key of Object.keys(group).sort()) {
    const slash = key.indexOf("/");
    if (slash < 0) continue; // a cluster-scoped object is in no namespace
    const namespace = key.slice(0, slash);
    const objects = index.get(namespace);
    if (objects === undefined) index.set(namespace, [group[key] as KubeObject]);
    else objects.push(group[key] as KubeObject);
  }
  return index;
}

/** Objects of one kind's group of a request map in `namespace`, sorted by name. */
export function objectsIn(group: ObjectsByName, namespace: string): readonly KubeObject[] {
  let index = objectsByNamespace.get(group);
  if (index === undefined) {
    index = indexByNamespace(group);
    objectsByNamespace.set(group, index);
  }
  return index.get(namespace) ?? [];
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
// `parent` and `children`. Both are accepted. The object maps are checked apart (objectMapsOf).
const syncSchema = z.looseObject({
  controller,
  object: kubeObject.optional(),
  parent: kubeObject.optional(),
  finalizing: z.boolean().optional(),
});
/** Exported for the test that the check by hand (isObjectMapOrAbsent) never accepts more. */
export const syncMapsSchema = z.looseObject({
  attachments: objectMap.nullish(),
  children: objectMap.nullish(),
  related: objectMap.nullish(),
});
const customizeSchema = z.looseObject({
  controller,
  parent: kubeObject.optional(),
  object: kubeObject.optional(),
});

/** `request.related["Service.v1"]["develop/api"].metadata`: map keys quoted, like kubectl paths. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.map(pathSegment).reduce((out, segment) => out + segment, "request");
}

function pathSegment(key: PropertyKey): string {
  if (typeof key === "number") return `[${key}]`;
  const name = String(key);
  return /^[A-Za-z_]\w*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

function describe(error: z.ZodError): string {
  const lines = error.issues.slice(0, 5).map((i) => `${fieldPath(i.path)}: ${i.message}`);
  if (error.issues.length > 5) lines.push(`(${error.issues.length - 5} more)`);
  return `invalid hook request: ${lines.join("; ")}`;
}

function parseWith<Schema extends z.ZodType>(schema: Schema, body: unknown): z.output<Schema> {
  const result = schema.safeParse(body);
  if (!result.success) throw new RequestError(describe(result.error));
  return result.data;
}

// The object maps hold almost the whole request (thousands of objects on a big cluster). They are
// checked by hand, in place; only a map that fails goes through zod, for its exact message (and
// its normalisation of null labels and annotations).

function isStringMapOrAbsent(value: unknown): boolean {
  if (value === undefined) return true;
  if (!isRecord(value)) return false;
  for (const key in value) if (typeof value[key] !== "string") return false;
  return true;
}

function isKubeObject(value: unknown): value is KubeObject {
  if (!isRecord(value)) return false;
  const metadata = value.metadata;
  return (
    typeof value.apiVersion === "string" &&
    typeof value.kind === "string" &&
    isRecord(metadata) &&
    typeof metadata.name === "string" &&
    metadata.name !== "" &&
    (metadata.namespace === undefined || typeof metadata.namespace === "string") &&
    isStringMapOrAbsent(metadata.labels) &&
    isStringMapOrAbsent(metadata.annotations)
  );
}

/** Exported for the test that it never accepts what syncMapsSchema rejects or would change. */
export function isObjectMapOrAbsent(value: unknown): boolean {
  if (value === undefined) return true;
  if (!isRecord(value)) return false;
  for (const key in value) {
    const group = value[key];
    if (!isRecord(group)) return false;
    for (const name in group) if (!isKubeObject(group[name])) return false;
  }
  return true;
}

interface ObjectMaps {
  attachments?: ObjectMap | null | undefined;
  children?: ObjectMap | null | undefined;
  related?: ObjectMap | null | undefined;
}

function objectMapsOf(body: Record<string, unknown>): ObjectMaps {
  const fast =
    isObjectMapOrAbsent(body.attachments) &&
    isObjectMapOrAbsent(body.children) &&
    isObjectMapOrAbsent(body.related);
  return fast ? (body as ObjectMaps) : (parseWith(syncMapsSchema, body) as ObjectMaps);
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

/** Every group of `attachments` is a declared kind: anything else is a request we do not know. */
function checkAttachmentKeys(attachments: ObjectMap, kinds: readonly DeclaredKind[]): void {
  for (const key of Object.keys(attachments)) {
    if (!kinds.some((k) => k.key === key)) {
      throw new RequestError(
        `invalid hook request: request.attachments: Unsupported value: ${JSON.stringify(key)}: not declared in controller.spec.attachments`,
      );
    }
  }
}

/**
 * Metacontroller always sends a group for every declared attachment and every customize rule. A
 * missing group means an incomplete request (for example no customize hook configured), and
 * answering it would delete mirrors.
 */
function checkGroupsPresent(
  attachments: ObjectMap,
  related: ObjectMap,
  kinds: readonly DeclaredKind[],
): void {
  for (const { key } of kinds) {
    const field =
      related[key] === undefined ? "related" : attachments[key] === undefined ? "attachments" : "";
    if (field !== "") {
      throw new RequestError(
        `invalid hook request: request.${field}: Required value: no ${JSON.stringify(key)} group (is the customize hook configured?)`,
      );
    }
  }
}

function rulesOf(parsed: { controller: { spec: { attachments: unknown } } }): AttachmentRule[] {
  return parsed.controller.spec.attachments as AttachmentRule[];
}

export function parseSyncRequest(body: unknown, config: Config): SyncInput {
  const request = parseWith(syncSchema, body);
  const maps = objectMapsOf(body as Record<string, unknown>);
  // Name the field of the hook version the request looks like: v2 sends `children`.
  const field =
    request.object === undefined && (request.parent !== undefined || maps.children != null)
      ? "parent"
      : "object";
  const namespace = namespaceOf(request.object ?? request.parent, field);
  const kinds = declaredKinds(rulesOf(request));
  const attachments = maps.attachments ?? maps.children ?? {};
  const related = maps.related ?? {};
  // A namespace that gets no mirrors gets no customize rules either, so its related groups are
  // absent: only an eligible namespace's request must be complete.
  if (isEligibleNamespace(namespace.metadata.name, config)) {
    checkAttachmentKeys(attachments, kinds);
    checkGroupsPresent(attachments, related, kinds);
  }
  return {
    controllerName: request.controller.metadata.name,
    namespace,
    kinds,
    attachments,
    related,
  };
}

export function parseCustomizeRequest(body: unknown): CustomizeInput {
  const request = parseWith(customizeSchema, body);
  const namespace = namespaceOf(
    request.parent ?? request.object,
    // Both hook versions send `parent` to customize; `object` is accepted too.
    request.parent === undefined && request.object !== undefined ? "object" : "parent",
  );
  return { namespace, kinds: declaredKinds(rulesOf(request)) };
}
