import { RE2JS } from "re2js";
import { clip } from "./dns.ts";
import { fail, fieldError, ok, type Result } from "./errors.ts";

// Namespace name lists: comma-separated items, each a plain name or an RE2 pattern matched against
// the whole name. RE2 runs in linear time, so a tenant's pattern cannot stall the server.

/** Longer items are rejected: no namespace name or sensible pattern comes near it. */
export const MAX_PATTERN_LENGTH = 1024;

const PLAIN_NAME = /^[a-z0-9-]+$/;

export interface NameMatcher {
  matches(name: string): boolean;
  /** True when the list has no items: it matches nothing. */
  readonly empty: boolean;
}

// Sources are re-read on every sync; compiled patterns are kept, up to a bound.
const compiled = new Map<string, RE2JS>();
const COMPILED_LIMIT = 10_000;

function compile(pattern: string): RE2JS {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = RE2JS.compile(pattern);
    if (compiled.size >= COMPILED_LIMIT) compiled.clear();
    compiled.set(pattern, re);
  }
  return re;
}

/** Parses a comma list of names and patterns; `field` names it in errors. */
export function parseNameList(value: string, field: string): Result<NameMatcher> {
  const names = new Set<string>();
  const patterns: RE2JS[] = [];
  const errors = [];
  for (const raw of value.split(",")) {
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
    try {
      patterns.push(compile(item));
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      errors.push(fieldError(field, item, `not a valid RE2 pattern: ${clip(why, 120)}`));
    }
  }
  if (errors.length > 0) return fail(...errors);
  return ok({
    empty: names.size === 0 && patterns.length === 0,
    matches: (name) => names.has(name) || patterns.some((p) => p.matches(name)),
  });
}
