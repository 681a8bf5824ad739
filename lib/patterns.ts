import { RE2JS } from "re2js";
import { clip } from "./dns.ts";
import { fail, fieldError, ok, type Result } from "./errors.ts";

// Namespace name lists: comma-separated items, each a plain name or an RE2 pattern matched against
// the whole name. RE2 matches in linear time, so no pattern can stall a match; the bounds below
// keep compiling cheap too, since a tenant writes the patterns and every sync reads them.

/** Longer items are rejected: no namespace name or sensible pattern comes near it. */
export const MAX_PATTERN_LENGTH = 1024;
/** Largest repeat count (`{n}`, `{n,m}`): namespace names have at most 63 characters. */
export const MAX_REPEAT = 63;
/** Largest compiled program (RE2's approximate size); `feature-.*` is 12. */
export const MAX_PROGRAM_SIZE = 512;

const PLAIN_NAME = /^[a-z0-9-]+$/;
const REPEAT = /\{(\d+)(?:,(\d*))?\}/g;

export interface NameMatcher {
  matches(name: string): boolean;
  /** True when the list has no items: it matches nothing. */
  readonly empty: boolean;
}

// Sources are re-read on every sync, so patterns and their errors are kept, up to a bound that,
// with MAX_PROGRAM_SIZE, caps the memory they take.
const compiled = new Map<string, RE2JS | string>();
const COMPILED_LIMIT = 2_000;

/** The compiled pattern, or why it is refused. */
function compile(pattern: string): RE2JS | string {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = compileUncached(pattern);
    if (compiled.size >= COMPILED_LIMIT) compiled.clear();
    compiled.set(pattern, re);
  }
  return re;
}

function compileUncached(pattern: string): RE2JS | string {
  for (const [, min, max] of pattern.matchAll(REPEAT)) {
    if (Number(min) > MAX_REPEAT || (max !== undefined && max !== "" && Number(max) > MAX_REPEAT)) {
      return `repeat counts above ${MAX_REPEAT} are not accepted (namespace names have at most 63 characters)`;
    }
  }
  try {
    // Unicode classes (\pL) are refused: namespace names are ASCII, and the classes are large.
    const re = RE2JS.compile(pattern, RE2JS.DISABLE_UNICODE_GROUPS);
    if (re.programSize() > MAX_PROGRAM_SIZE) {
      return `pattern is too complex (program size ${re.programSize()}, at most ${MAX_PROGRAM_SIZE})`;
    }
    return re;
  } catch (e) {
    return `not a valid RE2 pattern: ${clip(e instanceof Error ? e.message : String(e), 120)}`;
  }
}

/**
 * Splits a list on the commas outside `(...)`, `[...]` and `{...}`, so that a pattern such as
 * `team-[0-9]{1,3}` stays one item.
 */
export function splitList(value: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let inClass = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "(" || c === "{") depth++;
    else if ((c === ")" || c === "}") && depth > 0) depth--;
    else if (c === "," && depth === 0) {
      items.push(value.slice(start, i));
      start = i + 1;
    }
  }
  items.push(value.slice(start));
  return items;
}

/** Parses a comma list of names and patterns; `field` names it in errors. */
export function parseNameList(value: string, field: string): Result<NameMatcher> {
  const names = new Set<string>();
  const patterns: RE2JS[] = [];
  const errors = [];
  for (const raw of splitList(value)) {
    const item = raw.trim();
    if (item === "") continue;
    if (PLAIN_NAME.test(item)) {
      names.add(item);
      continue;
    }
    if (item.length > MAX_PATTERN_LENGTH) {
      errors.push(
        fieldError(
          field,
          item,
          `pattern has ${item.length} characters, more than ${MAX_PATTERN_LENGTH}`,
        ),
      );
      continue;
    }
    const re = compile(item);
    if (typeof re === "string") errors.push(fieldError(field, item, re));
    else patterns.push(re);
  }
  if (errors.length > 0) return fail(...errors);
  // Every source of a sync asks about the same namespace, and sources with the same annotations
  // share one matcher (lib/annotations.ts): the last answer is kept.
  let lastName: string | undefined;
  let lastAnswer = false;
  return ok({
    empty: names.size === 0 && patterns.length === 0,
    matches: (name) => {
      if (name !== lastName) {
        lastAnswer = names.has(name) || patterns.some((p) => p.matches(name));
        lastName = name;
      }
      return lastAnswer;
    },
  });
}
