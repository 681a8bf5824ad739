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

type OperatorToken = "=" | "!=" | "!" | "(" | ")" | ",";
type Token = { t: "id"; v: string; at: number } | { t: "op"; v: OperatorToken; at: number };

const WHITESPACE = " \t\n\r";
const TOKEN_END = " \t\n\r,()!=";

/** The operator at `i` and its length in the input, or undefined when none starts there. */
function operatorAt(input: string, i: number): { v: OperatorToken; length: number } | undefined {
  const c = input.charAt(i);
  const next = input.charAt(i + 1);
  if (c === "," || c === "(" || c === ")") return { v: c, length: 1 };
  if (c === "!") return next === "=" ? { v: "!=", length: 2 } : { v: "!", length: 1 };
  // `==` is a synonym of `=`.
  if (c === "=") return { v: "=", length: next === "=" ? 2 : 1 };
  return undefined;
}

function tokenize(input: string): Token[] | string {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const operator = operatorAt(input, i);
    if (WHITESPACE.includes(input.charAt(i))) {
      i++;
    } else if (operator !== undefined) {
      tokens.push({ t: "op", v: operator.v, at: i });
      i += operator.length;
    } else {
      const start = i;
      while (i < input.length && !TOKEN_END.includes(input.charAt(i))) i++;
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

/** Why a selector is rejected; thrown inside the parser only. */
class SelectorProblem {
  readonly detail: string;
  constructor(detail: string) {
    this.detail = detail;
  }
}

/** A single pass over the tokens: `requirement (, requirement)*`. */
class SelectorParser {
  private i = 0;
  private readonly tokens: readonly Token[];
  private readonly mode: SelectorMode;
  constructor(tokens: readonly Token[], mode: SelectorMode) {
    this.tokens = tokens;
    this.mode = mode;
  }

  requirements(): Requirement[] {
    const requirements = [this.requirement()];
    while (this.peek() !== undefined) {
      this.expectOperator(",", "','");
      requirements.push(this.requirement());
    }
    return requirements;
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  private isOperator(token: Token | undefined, ...operators: OperatorToken[]): boolean {
    return token?.t === "op" && operators.includes(token.v);
  }

  private expected(what: string): SelectorProblem {
    const token = this.peek();
    return new SelectorProblem(
      token === undefined
        ? `expected ${what} at the end`
        : `expected ${what} at position ${token.at}, found "${clip(token.v, 40)}"`,
    );
  }

  private expectOperator(operator: OperatorToken, what: string): void {
    if (!this.isOperator(this.peek(), operator)) throw this.expected(what);
    this.i++;
  }

  private identifier(what: string): string {
    const token = this.peek();
    if (token === undefined || token.t !== "id") throw this.expected(what);
    this.i++;
    return token.v;
  }

  private value(value: string): string {
    const problem = checkValue(value, this.mode);
    if (problem !== undefined) throw new SelectorProblem(problem);
    return value;
  }

  /** `!key`, `key`, `key = v`, `key != v`, `key in (...)` or `key notin (...)`. */
  private requirement(): Requirement {
    if (this.peek() === undefined) throw this.expected("a requirement");
    const negated = this.isOperator(this.peek(), "!");
    if (negated) this.i++;
    const key = this.identifier("a key");
    const keyProblem = checkKey(key);
    if (keyProblem !== undefined) throw new SelectorProblem(keyProblem);
    const next = this.peek();
    if (negated || next === undefined || this.isOperator(next, ","))
      return { key, operator: negated ? "DoesNotExist" : "Exists", values: [] };
    if (this.isOperator(next, "=", "!="))
      return this.equality(key, next.v === "=" ? "In" : "NotIn");
    if (next.t === "id" && (next.v === "in" || next.v === "notin"))
      return this.setOf(key, next.v === "in" ? "In" : "NotIn");
    throw this.expected("'=', '!=', 'in', 'notin' or ','");
  }

  /** After the key: `= v` or `!= v`; the value may be empty (`k=`). */
  private equality(key: string, operator: Operator): Requirement {
    this.i++;
    const token = this.peek();
    let value = "";
    if (token?.t === "id") {
      value = token.v;
      this.i++;
    } else if (token !== undefined && !this.isOperator(token, ",")) {
      throw this.expected("a value");
    }
    return { key, operator, values: [this.value(value)] };
  }

  /** After the key: `in (a, b)` or `notin (a, b)`; values deduplicated and sorted. */
  private setOf(key: string, operator: Operator): Requirement {
    this.i++;
    this.expectOperator("(", "'('");
    const values = [this.value(this.identifier("a value"))];
    while (!this.isOperator(this.peek(), ")")) {
      if (!this.isOperator(this.peek(), ",")) throw this.expected("',' or ')'");
      this.i++;
      values.push(this.value(this.identifier("a value")));
    }
    this.i++;
    return { key, operator, values: [...new Set(values)].sort() };
  }
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
  try {
    return ok(selectorOf(new SelectorParser(tokens, mode).requirements()));
  } catch (e) {
    if (e instanceof SelectorProblem) return bad(e.detail);
    throw e;
  }
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
