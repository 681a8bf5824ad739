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
  if (items.length === 0) return undefined;
  for (const item of items) if (!isRecord(item)) return undefined;
  for (const key of LIST_MERGE_KEYS)
    if (allHave(items as Record<string, unknown>[], key)) return key;
  return undefined;
}

function allHave(items: readonly Record<string, unknown>[], key: string): boolean {
  for (const item of items) if (item[key] === undefined) return false;
  return true;
}

/** Key texts are built up to this many characters; longer ones are taken as all different. */
const KEY_TEXT_LIMIT = 256;
/** The walk goes this deep; a tenant's spec can nest far deeper, and no list there is ours. */
const WALK_DEPTH_LIMIT = 64;

/**
 * How Metacontroller compares key values: Go's fmt %v of the decoded JSON value (`<nil>`, `80`,
 * `1e+06`, `map[a:1 b:2]` with sorted keys, `[1 2]`). Undefined past KEY_TEXT_LIMIT: such a value
 * is never taken for another, which keeps the cost linear whatever a tenant's spec holds.
 */
function keyText(value: unknown): string | undefined {
  const text = goText(value, KEY_TEXT_LIMIT);
  return text.length > KEY_TEXT_LIMIT ? undefined : text;
}

function goText(value: unknown, budget: number): string {
  if (typeof value === "string") return value;
  if (typeof value === "number") return goNumber(value);
  if (typeof value === "boolean") return String(value);
  if (value === null || value === undefined) return "<nil>";
  // Past the budget the text is too long anyway; nesting spends it, so this stops at any depth.
  if (budget <= 0) return "…";
  const parts: string[] = [];
  let used = 0;
  const entries = Array.isArray(value)
    ? value.map((item) => ["", item] as const)
    : Object.keys(value as object)
        .sort()
        .map((key) => [`${key}:`, (value as Record<string, unknown>)[key]] as const);
  for (const [label, item] of entries) {
    if (used > budget) break;
    const part = `${label}${goText(item, budget - used - label.length - 5)}`;
    used += part.length + 1;
    parts.push(part);
  }
  const text = parts.join(" ");
  return Array.isArray(value) ? `[${text}]` : `map[${text}]`;
}

/** Go's %v of a float64: shortest digits, with an exponent below 1e-4 and from 1e+06 on. */
function goNumber(value: number): string {
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  const [digits = "", exponent = "0"] = value.toExponential().split("e");
  const power = Number(exponent);
  if (power >= -4 && power < 6) return String(value);
  return `${digits}e${power < 0 ? "-" : "+"}${String(Math.abs(power)).padStart(2, "0")}`;
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
  walk(value, [path], found);
  return found;
}

/** `spec`, `rules`, 0 → `spec.rules[0]`. */
function pathText(path: readonly (string | number)[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else text += text === "" ? segment : `.${segment}`;
  }
  return text;
}

/**
 * `path` holds the fields and indexes down to `value`, written out only for a collision: every
 * mirror of every sync is walked, and most have none.
 */
function walk(value: unknown, path: (string | number)[], found: Collision[]): void {
  if (path.length > WALK_DEPTH_LIMIT) return;
  if (isRecord(value)) {
    for (const field in value) {
      path.push(field);
      walk(value[field], path, found);
      path.pop();
    }
    return;
  }
  if (!Array.isArray(value)) return;
  const key = listMergeKey(value);
  if (key === undefined) return;
  const firstOf = new Map<string, number>();
  for (let index = 0; index < value.length; index++) {
    const item = value[index] as Record<string, unknown>;
    const text = keyText(item[key]);
    const first = text === undefined ? undefined : firstOf.get(text);
    if (text !== undefined && first === undefined) firstOf.set(text, index);
    if (text !== undefined && first !== undefined)
      found.push({ list: pathText(path), key, value: text, first, repeat: index });
    path.push(index);
    walk(item, path, found);
    path.pop();
  }
}

/** `value` without the repeats of listMergeCollisions (the first item of each key value stays). */
export function withoutCollisions(value: unknown, depth = 0): unknown {
  if (depth > WALK_DEPTH_LIMIT) return value;
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const field of Object.keys(value)) out[field] = withoutCollisions(value[field], depth + 1);
    return out;
  }
  if (!Array.isArray(value)) return value;
  const key = listMergeKey(value);
  if (key === undefined) return value;
  const seen = new Set<string>();
  const kept: unknown[] = [];
  for (const item of value) {
    const text = keyText((item as Record<string, unknown>)[key]);
    if (text !== undefined && seen.has(text)) continue;
    if (text !== undefined) seen.add(text);
    kept.push(withoutCollisions(item, depth + 1));
  }
  return kept;
}

/** What a collision costs, for the status. */
export function describeCollision({ list, key, value, first, repeat }: Collision): string {
  return `${list}[${repeat}] is not copied: it has the same ${key} (${JSON.stringify(value)}) as ${list}[${first}], and Metacontroller merges this list by ${key}, so the two would become one on the next update`;
}
