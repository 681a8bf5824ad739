import { clip, isDnsSubdomain, MAX_LABEL } from "./dns.ts";
import { fail, fieldError, ok, type Result } from "./errors.ts";

// Kubernetes label selectors (`a=b,c!=d,e in (x,y),f notin (z),!g,h`), parsed by a single pass
// over the input as k8s.io/apimachinery/pkg/labels does. The same syntax selects on namespace
// annotations for `replicate-to-annotated`, where values may be any token.

export type Operator = "In" | "NotIn" | "Exists" | "DoesNotExist";

export interface Requirement {
  key: string;
  operator: Operator;
  values: string[];
}

export interface Selector {
  requirements: Requirement[];
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
}

/** The form Metacontroller's related-resource rules take (metav1.LabelSelector). */
export interface LabelSelector {
  matchExpressions: { key: string; operator: Operator; values?: string[] }[];
}

export type SelectorMode = "labels" | "annotations";

/** Longest selector accepted; real ones are a few dozen characters. */
export const MAX_SELECTOR_LENGTH = 4096;

const NAME_PART = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

type Token =
  | { t: "id"; v: string; at: number }
  | { t: "op"; v: "=" | "!=" | "!" | "(" | ")" | ","; at: number };

function tokenize(input: string): Token[] | string {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input.charAt(i);
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
    } else if (c === "," || c === "(" || c === ")") {
      tokens.push({ t: "op", v: c, at: i });
      i++;
    } else if (c === "!") {
      if (input.charAt(i + 1) === "=") {
        tokens.push({ t: "op", v: "!=", at: i });
        i += 2;
      } else {
        tokens.push({ t: "op", v: "!", at: i });
        i++;
      }
    } else if (c === "=") {
      tokens.push({ t: "op", v: "=", at: i });
      i += input.charAt(i + 1) === "=" ? 2 : 1;
    } else {
      const start = i;
      while (i < input.length && !" \t\n\r,()!=".includes(input.charAt(i))) i++;
      const v = input.slice(start, i);
      if (v.includes("<") || v.includes(">"))
        return `"${clip(v, 40)}": operators < and > are not label selector syntax`;
      tokens.push({ t: "id", v, at: start });
    }
  }
  return tokens;
}

function checkKey(key: string): string | undefined {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDnsSubdomain(prefix)) {
    return `key "${clip(key, 60)}": prefix must be a DNS subdomain`;
  }
  if (name.length === 0 || name.length > MAX_LABEL || !NAME_PART.test(name)) {
    return `key "${clip(key, 60)}": name must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

function checkValue(value: string, mode: SelectorMode): string | undefined {
  if (mode === "annotations") return undefined;
  if (value.length > MAX_LABEL || !LABEL_VALUE.test(value)) {
    return `value "${clip(value, 60)}": a label value is at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Parses the selector in `value`; `field` names it in errors. An empty selector is an error. */
export function parseSelector(value: string, field: string, mode: SelectorMode): Result<Selector> {
  const bad = (detail: string) => fail<Selector>(fieldError(field, value, detail));
  if (value.trim() === "")
    return bad("must not be empty (an empty selector would select every namespace)");
  if (value.length > MAX_SELECTOR_LENGTH) {
    return bad(`has ${value.length} characters, more than ${MAX_SELECTOR_LENGTH}`);
  }
  const tokens = tokenize(value);
  if (typeof tokens === "string") return bad(tokens);

  const requirements: Requirement[] = [];
  let i = 0;
  const peek = () => tokens[i];
  const expected = (what: string) => {
    const t = peek();
    return bad(
      t === undefined
        ? `expected ${what} at the end`
        : `expected ${what} at position ${t.at}, found "${clip(t.v, 40)}"`,
    );
  };

  for (;;) {
    let t = peek();
    if (t === undefined) return expected("a requirement");
    let negated = false;
    if (t.t === "op" && t.v === "!") {
      negated = true;
      i++;
      t = peek();
    }
    if (t === undefined || t.t !== "id") return expected("a key");
    const key = t.v;
    const keyProblem = checkKey(key);
    if (keyProblem) return bad(keyProblem);
    i++;
    const next = peek();
    if (negated || next === undefined || (next.t === "op" && next.v === ",")) {
      requirements.push({ key, operator: negated ? "DoesNotExist" : "Exists", values: [] });
    } else if (next.t === "op" && (next.v === "=" || next.v === "!=")) {
      i++;
      const v = peek();
      let val = "";
      if (v !== undefined && v.t === "id") {
        val = v.v;
        i++;
      } else if (v !== undefined && !(v.t === "op" && v.v === ",")) {
        return expected("a value");
      }
      const valueProblem = checkValue(val, mode);
      if (valueProblem) return bad(valueProblem);
      requirements.push({ key, operator: next.v === "=" ? "In" : "NotIn", values: [val] });
    } else if (next.t === "id" && (next.v === "in" || next.v === "notin")) {
      i++;
      const open = peek();
      if (open === undefined || open.t !== "op" || open.v !== "(") return expected("'('");
      i++;
      const values: string[] = [];
      for (;;) {
        const v = peek();
        if (v === undefined || v.t !== "id") return expected("a value");
        const valueProblem = checkValue(v.v, mode);
        if (valueProblem) return bad(valueProblem);
        values.push(v.v);
        i++;
        const sep = peek();
        if (sep?.t === "op" && sep.v === ",") {
          i++;
          continue;
        }
        if (sep?.t === "op" && sep.v === ")") {
          i++;
          break;
        }
        return expected("',' or ')'");
      }
      requirements.push({
        key,
        operator: next.v === "in" ? "In" : "NotIn",
        values: [...new Set(values)].sort(),
      });
    } else {
      return expected("'=', '!=', 'in', 'notin' or ','");
    }
    const sep = peek();
    if (sep === undefined) break;
    if (sep.t !== "op" || sep.v !== ",") return expected("','");
    i++;
  }
  return ok(selectorOf(requirements));
}

function selectorOf(requirements: Requirement[]): Selector {
  return {
    requirements,
    matches(labels) {
      return requirements.every(({ key, operator, values }) => {
        const has = labels !== undefined && Object.hasOwn(labels, key);
        const v = has ? labels[key] : undefined;
        switch (operator) {
          case "Exists":
            return has;
          case "DoesNotExist":
            return !has;
          case "In":
            return v !== undefined && values.includes(v);
          case "NotIn":
            return v === undefined || !values.includes(v);
        }
        return false;
      });
    },
  };
}

/** The selector as a metav1.LabelSelector, for Metacontroller's related-resource rules. */
export function toLabelSelector(selector: Selector): LabelSelector {
  return {
    matchExpressions: selector.requirements.map(({ key, operator, values }) =>
      operator === "Exists" || operator === "DoesNotExist"
        ? { key, operator }
        : { key, operator, values },
    ),
  };
}
