import type { StripList } from "./annotations.ts";
import {
  Annotation,
  DECORATOR_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  NEVER_COPIED,
} from "./constants.ts";
import type { KubeObject, ObjectMeta, ObjectsByName } from "./types.ts";

// Labels and annotations of a mirror (docs/design.md#metadata-of-every-mirror).

/** Answers of neverCopied by key: the same few keys recur on every source of a cluster. */
const neverCopiedByKey = new Map<string, boolean>();
const NEVER_COPIED_CACHE_LIMIT = 10_000;

function neverCopied(key: string): boolean {
  let answer = neverCopiedByKey.get(key);
  if (answer === undefined) {
    answer = NEVER_COPIED.some((k) => (k.endsWith("/") ? key.startsWith(k) : key === k));
    if (neverCopiedByKey.size >= NEVER_COPIED_CACHE_LIMIT) neverCopiedByKey.clear();
    neverCopiedByKey.set(key, answer);
  }
  return answer;
}

/** Identifies an object across kinds, API versions and namespaces; also the order of an answer. */
export function objectKey(object: KubeObject): string {
  return `${object.kind} ${object.apiVersion} ${object.metadata.namespace ?? ""}/${object.metadata.name}`;
}

/**
 * Orders strings by UTF-16 code units, like Go's sort.Strings. Unlike localeCompare, it does not
 * depend on the ICU data of the Node build, so every replica and version orders alike.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Longest array sortStrings sorts in place by insertion. */
const INSERTION_SORT_MAX = 16;

/**
 * Sorts `values` in place by code units, as Array.prototype.sort does. Every mirror sorts its few
 * label and annotation keys, and the built-in sort allocates a work area each time (about 1 kB
 * for six keys): short arrays are sorted by insertion, which allocates nothing.
 */
export function sortStrings(values: string[]): string[] {
  if (values.length > INSERTION_SORT_MAX) return values.sort();
  for (let i = 1; i < values.length; i++) {
    const value = values[i] as string;
    let at = i;
    for (; at > 0 && (values[at - 1] as string) > value; at--)
      values[at] = values[at - 1] as string;
    values[at] = value;
  }
  return values;
}

/** A copy of `map` with keys in sorted order, so answers are byte-identical across runs. */
export function sortedRecord<V>(map: Record<string, V>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const key of sortStrings(Object.keys(map))) out[key] = map[key] as V;
  return out;
}

/**
 * The keys of `from` a mirror keeps, plus `own` (written by the hook), in sorted order so answers
 * are byte-identical across runs; built in one pass, as every sync does this for every source.
 */
function copied(
  from: Record<string, string> | undefined,
  strip: StripList,
  own: readonly [string, string],
): Record<string, string> {
  const keys: string[] = [];
  if (from !== undefined && !strip.all) {
    for (const key in from) if (!neverCopied(key) && !strip.keys.has(key)) keys.push(key);
  }
  if (!keys.includes(own[0])) keys.push(own[0]);
  sortStrings(keys);
  const out: Record<string, string> = {};
  for (const key of keys) out[key] = key === own[0] ? own[1] : (from?.[key] as string);
  return out;
}

/** The metadata of the mirror of `source` in namespace `target`. */
export function mirrorMetadata(
  source: KubeObject,
  target: string,
  strip: { labels: StripList; annotations: StripList },
): ObjectMeta {
  const from = `${source.metadata.namespace}/${source.metadata.name}`;
  return {
    name: source.metadata.name,
    namespace: target,
    labels: copied(source.metadata.labels, strip.labels, [MANAGED_BY_LABEL, MANAGED_BY_VALUE]),
    annotations: copied(source.metadata.annotations, strip.annotations, [
      Annotation.replicatedFrom,
      from,
    ]),
  };
}

/**
 * The metadata of an observed mirror as the hook would have returned it: what Metacontroller adds
 * itself (its annotations, owner references, server fields) is left out.
 */
export function observedMirrorMetadata(observed: KubeObject, target: string): ObjectMeta {
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(observed.metadata.annotations ?? {})) {
    if (
      !key.startsWith("metacontroller.k8s.io/") &&
      key !== "kubectl.kubernetes.io/last-applied-configuration"
    ) {
      annotations[key] = value;
    }
  }
  return {
    name: observed.metadata.name,
    namespace: target,
    labels: sortedRecord(observed.metadata.labels ?? {}),
    annotations: sortedRecord(annotations),
  };
}

/** `namespace/name` of the source an observed mirror was made from, if it says. */
export function replicatedFrom(obj: KubeObject): string | undefined {
  return obj.metadata.annotations?.[Annotation.replicatedFrom];
}

/** The parent of a sync, as Metacontroller's child test reads it. */
export interface AttachmentParent {
  /** The namespace's metadata.uid from the request. */
  uid: unknown;
  /** The DecoratorController's metadata.name from the request. */
  controllerName: string;
}

/**
 * Metacontroller's own test for an attachment of this parent (DecoratorController getChildren):
 * the object's controller ownerReference (the first with `controller: true`) carries the parent's
 * UID, and its `metacontroller.k8s.io/decorator-controller` annotation names this controller.
 * Metacontroller trusts nothing more, and neither does the hook: an object that passes is ours
 * even when it is not yet in the request's attachments (its informer cache read them before the
 * object was created; docs/design.md, Unmanaged objects).
 */
export function isAttachmentOf(object: KubeObject, parent: AttachmentParent): boolean {
  if (typeof parent.uid !== "string" || parent.uid === "") return false;
  if (object.metadata.annotations?.[DECORATOR_ANNOTATION] !== parent.controllerName) return false;
  const refs = object.metadata.ownerReferences;
  if (!Array.isArray(refs)) return false;
  const controller = refs.find(
    (ref): ref is { uid?: unknown } =>
      typeof ref === "object" &&
      ref !== null &&
      (ref as { controller?: unknown }).controller === true,
  );
  return controller !== undefined && controller.uid === parent.uid;
}

/**
 * Our attachment at `namespace/name` in one kind's groups: the one in the request's attachments,
 * or else an object in related that passes Metacontroller's child test (isAttachmentOf).
 */
export function observedAttachment(
  groups: { attachments: ObjectsByName; related: ObjectsByName },
  at: string,
  parent: AttachmentParent,
): KubeObject | undefined {
  const attached = groups.attachments[at];
  if (attached !== undefined) return attached;
  const seen = groups.related[at];
  return seen !== undefined && isAttachmentOf(seen, parent) ? seen : undefined;
}
