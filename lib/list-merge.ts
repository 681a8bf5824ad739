import { isRecord } from "./kinds/shapes.ts";

// Metacontroller's apply and lists of objects (docs/design.md, Metacontroller's apply and list
// merging). On every update it merges the observed object, its last-applied copy and the desired
// one. Objects merge field by field; a list whose items are all objects sharing one of a few
// conventional keys is merged as a map by that key; any other list is replaced whole. Two items
// with the same key value in such a list collapse into one. A mirror must never hold such
// repeats: it would lose an item on its first update, silently.

/** The keys Metacontroller takes as a list's merge key, first match wins (its knownMergeKeys). */
export const LIST_MERGE_KEYS = [
  "containerPort",
  "port",
  "mountPath",
  "name",
  "uid",
  "ip",
  "path",
] as const;

/** The key Metacontroller merges `items` by, or undefined when it replaces the list whole. */
export function listMergeKey(items: readonly unknown[]): string | undefined {
  if (items.length === 0 || !items.every(isRecord)) return undefined;
  return LIST_MERGE_KEYS.find((key) =>
    items.every((item) => (item as Record<string, unknown>)[key] !== undefined),
  );
}

/** How Metacontroller compares key values: Go's fmt %v of the decoded JSON value. */
function keyText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** An item Metacontroller would merge into an earlier one. */
export interface Collision {
  /** The list, e.g. `spec.rules[0].backendRefs`. */
  list: string;
  key: string;
  value: string;
  /** Indexes of the item kept and the item it collapses into. */
  first: number;
  repeat: number;
}

/**
 * Every collision in `value` (at `path`), found the way Metacontroller's merge walks: into object
 * fields, and into the items of a list it merges by key; not into a list it replaces whole.
 */
export function listMergeCollisions(value: unknown, path: string): Collision[] {
  const found: Collision[] = [];
  walk(value, path, found);
  return found;
}

function walk(value: unknown, path: string, found: Collision[]): void {
  if (isRecord(value)) {
    for (const field of Object.keys(value)) walk(value[field], `${path}.${field}`, found);
    return;
  }
  if (!Array.isArray(value)) return;
  const key = listMergeKey(value);
  if (key === undefined) return;
  const firstOf = new Map<string, number>();
  value.forEach((item, index) => {
    const text = keyText((item as Record<string, unknown>)[key]);
    const first = firstOf.get(text);
    if (first === undefined) firstOf.set(text, index);
    else found.push({ list: path, key, value: text, first, repeat: index });
    walk(item, `${path}[${index}]`, found);
  });
}

/** `value` without the repeats of listMergeCollisions (the first item of each key value stays). */
export function withoutCollisions(value: unknown): unknown {
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const field of Object.keys(value)) out[field] = withoutCollisions(value[field]);
    return out;
  }
  if (!Array.isArray(value)) return value;
  const key = listMergeKey(value);
  if (key === undefined) return value;
  const seen = new Set<string>();
  const kept: unknown[] = [];
  for (const item of value) {
    const text = keyText((item as Record<string, unknown>)[key]);
    if (seen.has(text)) continue;
    seen.add(text);
    kept.push(withoutCollisions(item));
  }
  return kept;
}

/** What a collision costs, for the status. */
export function describeCollision({ list, key, value, first, repeat }: Collision): string {
  return `${list}[${repeat}] is not copied: it has the same ${key} (${JSON.stringify(value)}) as ${list}[${first}], and Metacontroller merges this list by ${key}, so the two would become one on the next update`;
}
