import { Reason } from "../constants.ts";
import type { KubeObject } from "../types.ts";
import type { MirrorResult, Remark } from "./kind.ts";

// Small shapes shared by the kind modules. Requests are only checked down to object metadata, so
// a kind reads everything below `spec` defensively through these.

/** A JSON object: not null, not an array. */
export type JsonObject = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An object's spec as the kind's shape, or an empty one when it has none (or not an object). */
export function specOf<Spec extends object = JsonObject>(object: KubeObject): Partial<Spec> {
  return (isRecord(object.spec) ? object.spec : {}) as Partial<Spec>;
}

/** A list field, or an empty list when it is missing or not a list. */
export function asArray<T>(value: T[] | undefined): T[];
export function asArray(value: unknown): unknown[];
export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Appends the `items` whose JSON is not in `into` yet, in order; `into`'s own repeats stay. */
export function appendUniqueByJson<T>(into: T[], items: readonly T[]): void {
  const seen = new Set(into.map((item) => JSON.stringify(item)));
  for (const item of items) {
    const key = JSON.stringify(item);
    if (!seen.has(key)) {
      seen.add(key);
      into.push(item);
    }
  }
}

/** `items` without repeats (by JSON), first occurrences in order. */
export function uniqueByJson<T>(items: readonly T[]): T[] {
  const out: T[] = [];
  appendUniqueByJson(out, items);
  return out;
}

/**
 * The answer of a routing kind when host mapping left none of `what` (rule, hostname, route):
 * no mirror, since an empty list would make it serve every host or nothing.
 */
export function noneLeftAfterHostMapping(what: string, remarks: Remark[]): MirrorResult {
  remarks.push({
    reason: Reason.InvalidHost,
    message: `no ${what} is left after host mapping: not mirrored`,
  });
  return { mirror: undefined, remarks };
}
