import { clip, isDnsSubdomain } from "./dns.ts";
import type { HostMapping } from "./hosts.ts";

// Traefik router rules (`match` of IngressRoute and IngressRouteTCP routes), v2 and v3 syntax.
//
// Traefik parses a rule as a Go expression (github.com/vulcand/predicate over go/parser): matcher
// calls such as Host(`a`) or Headers(`k`, `v`) combined with `&&`, `||`, `!` and parentheses;
// arguments are Go raw strings (backticks, no escapes) or interpreted strings (double quotes, Go
// escapes). v2 matchers take any number of arguments (Host(`a`, `b`)), v3 matchers mostly one.
//
// The rule is parsed into an AST with source positions and rewritten by splicing: every argument of
// a host matcher is replaced by its mapped host in the same quote style, and every other byte of the
// rule (whitespace, other matchers, regular expressions, quotes) is kept exactly as it was. This
// replaces v1's text rewriter, which dropped text after the first Host, rewrote the first "Host"
// substring it found (in a header name, in HostRegexp), mangled regexes and ignored double quotes.
//
// Left out (reported, never copied with the source's hosts):
// - syntax errors, and rules longer than MAX_RULE_LENGTH;
// - rules using a host matcher that cannot be mapped safely (HostRegexp, HostSNIRegexp, HostSNI in
//   an HTTP rule, `*` in HostSNI: any Host* matcher the dialect does not map);
// - rules not constrained to a mapped host (see `constrained`): a route without a host in the
//   target would compete with the source's routes for every host.
//
// The parser is linear in the input: one pass of a tokenizer over at most MAX_RULE_LENGTH
// characters, a recursive descent bounded by MAX_NESTING, and n-ary `&&`/`||` nodes (no deep
// left-leaning chains to walk). A WorkMeter counts the steps, so tests check that bound without a
// clock.

/** Longest rule parsed; longer rules are left out with a message. */
export const MAX_RULE_LENGTH = 4096;
/** Deepest nesting of parentheses and `!` accepted. */
export const MAX_NESTING = 64;

/**
 * Counts the work of parsing and rewriting one rule: characters the tokenizer scans, tokens the
 * parser looks at, AST nodes the analyses visit. Optional; tests pass one to assert the work stays
 * within a constant times the rule's length.
 */
export interface WorkMeter {
  steps: number;
}

/** Adds `steps` to the meter, when there is one. */
function count(meter: WorkMeter | undefined, steps = 1): void {
  if (meter !== undefined) meter.steps += steps;
}

export interface Span {
  /** Offset of the first character. */
  start: number;
  /** Offset after the last character. */
  end: number;
}

export interface StringArg extends Span {
  /** The string's value (escapes of double-quoted strings decoded). */
  value: string;
  quote: "`" | '"';
}

export type RuleNode =
  | (Span & { type: "matcher"; name: string; args: StringArg[] })
  | (Span & { type: "and" | "or"; operands: RuleNode[] })
  | (Span & { type: "not"; operand: RuleNode })
  | (Span & { type: "group"; inner: RuleNode });

export type ParseResult = { ok: true; ast: RuleNode } | { ok: false; reason: string };

/** Which matchers of a rule carry hosts. Names are compared case-insensitively, as Traefik v2 does. */
export interface RuleDialect {
  /** Matchers whose every argument is a host to map (lowercase). */
  readonly hostMatchers: readonly string[];
  /** An argument value meaning "any host": never mapped (HostSNI(`*`)). */
  readonly catchAll?: string;
}

/** HTTP routers (IngressRoute): Host and v2's alias HostHeader. */
export const HTTP_RULES: RuleDialect = { hostMatchers: ["host", "hostheader"] };
/** TCP routers (IngressRouteTCP): HostSNI; HostSNI(`*`) matches every connection. */
export const TCP_RULES: RuleDialect = { hostMatchers: ["hostsni"], catchAll: "*" };

// ---------------------------------------------------------------------------------------------
// Tokenizer

type Token =
  | (Span & { t: "ident"; name: string })
  | (Span & { t: "string"; arg: StringArg })
  | (Span & { t: "(" | ")" | "," | "&&" | "||" | "!" | "eof" });

class RuleSyntaxError extends Error {}

const isIdentStart = (c: number) =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

const SIMPLE_ESCAPES: Record<string, string> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  '"': '"',
};

function describe(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code < 0x20 || code === 0x7f ? `U+${code.toString(16).padStart(4, "0")}` : `"${c}"`;
}

function syntaxError(at: number, what: string): never {
  throw new RuleSyntaxError(`syntax error at character ${at + 1}: ${what}`);
}

/** Digits an escape `\x`, `\u` or `\U` takes. */
const HEX_ESCAPE_DIGITS: Record<string, number> = { x: 2, u: 4, U: 8 };

/** One pass over the rule, left to right; every method consumes what it reads. */
class Scanner {
  private i = 0;
  private readonly tokens: Token[] = [];
  private readonly src: string;
  private readonly meter: WorkMeter | undefined;
  constructor(src: string, meter: WorkMeter | undefined) {
    this.src = src;
    this.meter = meter;
  }

  scan(): Token[] {
    while (true) {
      const from = this.i;
      this.skipWhitespace();
      if (this.i >= this.src.length) {
        this.tokens.push({ t: "eof", start: this.i, end: this.i });
        this.scanned(from);
        return this.tokens;
      }
      this.tokens.push(this.token());
      this.scanned(from);
    }
  }

  /** Every character is scanned once (the cursor only moves forward); each token costs one more step. */
  private scanned(from: number): void {
    count(this.meter, this.i - from + 1);
  }

  /**
   * Whitespace as Go's scanner has it. A line break after an identifier, a string or ")" ends the
   * expression for Go (an inserted semicolon): Traefik rejects anything after it.
   */
  private skipWhitespace(): void {
    const { src } = this;
    let newlineAt = -1;
    while (this.i < src.length && " \t\n\r".includes(src[this.i] as string)) {
      if (src[this.i] === "\n" && newlineAt < 0) newlineAt = this.i;
      this.i++;
    }
    const prev = this.tokens[this.tokens.length - 1];
    const endsExpression = prev?.t === "ident" || prev?.t === "string" || prev?.t === ")";
    if (newlineAt >= 0 && this.i < src.length && endsExpression) {
      syntaxError(
        newlineAt,
        "a line break after a matcher, a string or ')' ends the rule for Traefik; break lines after && or || instead",
      );
    }
  }

  private token(): Token {
    const { src } = this;
    const start = this.i;
    const ch = src[start] as string;
    if (isIdentStart(src.charCodeAt(start))) return this.identifier();
    if (ch === "`") return this.rawString();
    if (ch === '"') return this.quotedString();
    if (ch === "(" || ch === ")" || ch === ",") {
      this.i++;
      return { t: ch, start, end: this.i };
    }
    if ((ch === "&" || ch === "|") && src[start + 1] === ch) {
      this.i += 2;
      return { t: ch === "&" ? "&&" : "||", start, end: this.i };
    }
    if (ch === "!" && src[start + 1] !== "=") {
      this.i++;
      return { t: "!", start, end: this.i };
    }
    return syntaxError(
      start,
      `unexpected ${describe(String.fromCodePoint(src.codePointAt(start) ?? 0))}`,
    );
  }

  private identifier(): Token {
    const { src } = this;
    const start = this.i;
    const isIdentPart = (c: number) => isIdentStart(c) || isDigit(c);
    while (this.i < src.length && isIdentPart(src.charCodeAt(this.i))) this.i++;
    return { t: "ident", name: src.slice(start, this.i), start, end: this.i };
  }

  private rawString(): Token {
    const start = this.i;
    const close = this.src.indexOf("`", start + 1);
    if (close < 0) syntaxError(start, "unterminated string (no closing `)");
    this.i = close + 1;
    // Go drops carriage returns from raw strings.
    const value = this.src.slice(start + 1, close).replaceAll("\r", "");
    return { t: "string", arg: { value, quote: "`", start, end: this.i }, start, end: this.i };
  }

  private quotedString(): Token {
    const { src } = this;
    const start = this.i;
    this.i++;
    let value = "";
    while (src[this.i] !== '"') {
      if (this.i >= src.length) syntaxError(start, 'unterminated string (no closing ")');
      const ch = src[this.i] as string;
      if (ch === "\n") syntaxError(this.i, "line break inside a double-quoted string");
      if (ch === "\\") {
        value += this.escape();
      } else {
        value += ch;
        this.i++;
      }
    }
    this.i++;
    return { t: "string", arg: { value, quote: '"', start, end: this.i }, start, end: this.i };
  }

  /** The escape sequence at the backslash under the cursor, decoded as Go does. */
  private escape(): string {
    const at = this.i;
    const e = this.src[at + 1] ?? "";
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      this.i += 2;
      return simple;
    }
    const digits = HEX_ESCAPE_DIGITS[e];
    if (digits !== undefined) return this.hexEscape(e, digits);
    if (e >= "0" && e <= "7") return this.octalEscape();
    return syntaxError(at, `unknown escape sequence \\${e === "" ? "" : describe(e)}`);
  }

  private hexEscape(e: string, n: number): string {
    const at = this.i;
    const hex = this.src.slice(at + 2, at + 2 + n);
    if (hex.length !== n || ![...hex].every((h) => isHex(h.charCodeAt(0))))
      syntaxError(at, `escape \\${e} needs ${n} hexadecimal digits`);
    const code = Number.parseInt(hex, 16);
    this.i += 2 + n;
    // A byte: as in Go, values above 0x7f are raw bytes, not valid UTF-8 on their own.
    if (e === "x") return String.fromCharCode(code);
    if (code > 0x10ffff || (code >= 0xd800 && code < 0xe000))
      syntaxError(at, `escape \\${e}${hex} is not a valid Unicode code point`);
    return String.fromCodePoint(code);
  }

  private octalEscape(): string {
    const at = this.i;
    const oct = this.src.slice(at + 1, at + 4);
    if (!/^[0-7]{3}$/.test(oct)) syntaxError(at, "octal escape needs 3 octal digits");
    const code = Number.parseInt(oct, 8);
    if (code > 255) syntaxError(at, `octal escape \\${oct} is above \\377`);
    this.i += 4;
    return String.fromCharCode(code);
  }
}

function tokenize(src: string, meter: WorkMeter | undefined): Token[] {
  return new Scanner(src, meter).scan();
}

// ---------------------------------------------------------------------------------------------
// Parser: or := and ("||" and)*; and := unary ("&&" unary)*; unary := "!" unary | primary;
// primary := "(" or ")" | ident "(" [string ("," string)* [","]] ")"

function tokenText(tok: Token): string {
  switch (tok.t) {
    case "eof":
      return "the end of the rule";
    case "ident":
      return `"${clip(tok.name, 30)}"`;
    case "string":
      return "a string";
    default:
      return `"${tok.t}"`;
  }
}

class Parser {
  private pos = 0;
  private depth = 0;
  private readonly tokens: Token[];
  private readonly meter: WorkMeter | undefined;
  constructor(tokens: Token[], meter: WorkMeter | undefined) {
    this.tokens = tokens;
    this.meter = meter;
  }

  /** The only access to the tokens: counted, so a parser that backtracks shows in the meter. */
  private peek(): Token {
    count(this.meter);
    return this.tokens[this.pos] as Token;
  }
  private next(): Token {
    const tok = this.peek();
    if (tok.t !== "eof") this.pos++;
    return tok;
  }
  private fail(tok: Token, expected: string): never {
    throw new RuleSyntaxError(
      `syntax error at character ${tok.start + 1}: expected ${expected}, found ${tokenText(tok)}`,
    );
  }

  parseRule(): RuleNode {
    const node = this.parseBinary("||");
    const tok = this.peek();
    if (tok.t !== "eof") this.fail(tok, "&&, || or the end of the rule");
    return node;
  }

  private parseBinary(op: "||" | "&&"): RuleNode {
    const operand = () => (op === "||" ? this.parseBinary("&&") : this.parseUnary());
    const first = operand();
    if (this.peek().t !== op) return first;
    const operands = [first];
    while (this.peek().t === op) {
      this.next();
      operands.push(operand());
    }
    const last = operands[operands.length - 1] as RuleNode;
    return {
      type: op === "||" ? "or" : "and",
      operands,
      start: first.start,
      end: last.end,
    };
  }

  private enter(tok: Token): void {
    if (++this.depth > MAX_NESTING) {
      throw new RuleSyntaxError(
        `syntax error at character ${tok.start + 1}: parentheses and ! nested more than ${MAX_NESTING} deep`,
      );
    }
  }

  private parseUnary(): RuleNode {
    const tok = this.peek();
    if (tok.t === "!") return this.parseNot(tok);
    if (tok.t === "(") return this.parseGroup(tok);
    if (tok.t === "ident") return this.parseMatcher(tok);
    return this.fail(tok, "a matcher such as Host(`example.com`), ( or !");
  }

  private parseNot(tok: Token): RuleNode {
    this.next();
    this.enter(tok);
    const operand = this.parseUnary();
    this.depth--;
    return { type: "not", operand, start: tok.start, end: operand.end };
  }

  private parseGroup(tok: Token): RuleNode {
    this.next();
    this.enter(tok);
    const inner = this.parseBinary("||");
    this.depth--;
    const close = this.next();
    if (close.t !== ")") this.fail(close, "&&, || or )");
    return { type: "group", inner, start: tok.start, end: close.end };
  }

  /** `Name(` then string arguments separated by commas (a trailing one allowed), then `)`. */
  private parseMatcher(tok: Token & { t: "ident" }): RuleNode {
    this.next();
    const name = clip(tok.name, 30);
    const open = this.next();
    if (open.t !== "(") this.fail(open, `( after the matcher name ${name}`);
    const args: StringArg[] = [];
    let close = this.next();
    while (close.t !== ")") {
      if (close.t !== "string") this.fail(close, `a string argument or ) in ${name}(...)`);
      args.push(close.arg);
      const sep = this.next();
      if (sep.t !== "," && sep.t !== ")") this.fail(sep, `, or ) in ${name}(...)`);
      close = sep.t === ")" ? sep : this.next();
    }
    return { type: "matcher", name: tok.name, args, start: tok.start, end: close.end };
  }
}

/** Parses a Traefik rule; never throws. */
export function parseRule(rule: string, meter?: WorkMeter): ParseResult {
  if (rule.length > MAX_RULE_LENGTH) {
    return {
      ok: false,
      reason: `the rule has ${rule.length} characters; at most ${MAX_RULE_LENGTH} are accepted`,
    };
  }
  try {
    return { ok: true, ast: new Parser(tokenize(rule, meter), meter).parseRule() };
  } catch (e) {
    if (e instanceof RuleSyntaxError) return { ok: false, reason: e.message };
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Analysis and rewriting

const isHostMatcher = (name: string, dialect: RuleDialect) =>
  dialect.hostMatchers.includes(name.toLowerCase());

/**
 * Whether every request the rule matches must carry one of its mapped hosts: a host matcher is;
 * `A && B` is when either side is; `A || B` when both are; a negation never is (it matches every
 * other host); other matchers are not.
 */
export function constrained(
  node: RuleNode,
  dialect: RuleDialect = HTTP_RULES,
  meter?: WorkMeter,
): boolean {
  count(meter);
  switch (node.type) {
    case "matcher":
      return isHostMatcher(node.name, dialect) && node.args.length > 0;
    case "and":
      return node.operands.some((n) => constrained(n, dialect, meter));
    case "or":
      return node.operands.every((n) => constrained(n, dialect, meter));
    case "not":
      return false;
    case "group":
      return constrained(node.inner, dialect, meter);
  }
}

interface HostUse {
  matcher: string;
  arg: StringArg;
  /** Under an odd number of `!`: the route does not serve this host. */
  negated: boolean;
}

/** Host matcher arguments in source order; the first unmappable host matcher, if any. */
function collect(
  node: RuleNode,
  dialect: RuleDialect,
  meter: WorkMeter | undefined,
): { uses: HostUse[]; refused: (Span & { name: string }) | undefined; empty: string | undefined } {
  const uses: HostUse[] = [];
  let refused: (Span & { name: string }) | undefined;
  let empty: string | undefined;
  const walk = (n: RuleNode, negated: boolean): void => {
    count(meter);
    switch (n.type) {
      case "matcher":
        if (isHostMatcher(n.name, dialect)) {
          if (n.args.length === 0) empty ??= n.name;
          for (const arg of n.args) uses.push({ matcher: n.name, arg, negated });
        } else if (n.name.toLowerCase().startsWith("host")) {
          refused ??= { name: n.name, start: n.start, end: n.end };
        }
        return;
      case "and":
      case "or":
        for (const o of n.operands) walk(o, negated);
        return;
      case "not":
        walk(n.operand, !negated);
        return;
      case "group":
        walk(n.inner, negated);
        return;
    }
  };
  walk(node, false);
  return { uses, refused, empty };
}

export type RewriteResult =
  | {
      ok: true;
      /** The rule with every host argument replaced, every other byte unchanged. */
      rule: string;
      /** The mapped hosts the rule serves (not under a negation), deduplicated, in order. */
      hosts: string[];
    }
  | { ok: false; reason: string };

function quoted(host: string, quote: StringArg["quote"]): string {
  // A valid DNS name needs no escaping in either quote style.
  return `${quote}${host}${quote}`;
}

/**
 * Rewrites the hosts of a Traefik rule with `mapHost` (applied to each lowercased host argument;
 * Traefik compares hosts case-insensitively). Never throws.
 */
export function rewriteRuleHosts(
  rule: string,
  mapHost: (host: string) => HostMapping,
  dialect: RuleDialect = HTTP_RULES,
  meter?: WorkMeter,
): RewriteResult {
  const parsed = parseRule(rule, meter);
  if (!parsed.ok) return parsed;
  const { uses, refused, empty } = collect(parsed.ast, dialect, meter);
  if (refused !== undefined) {
    return {
      ok: false,
      reason: `${clip(refused.name, 30)} (character ${refused.start + 1}) cannot be mapped into the target's domain`,
    };
  }
  if (empty !== undefined) return { ok: false, reason: `${clip(empty, 30)}() has no host` };
  if (!constrained(parsed.ast, dialect, meter)) {
    return {
      ok: false,
      reason: "not limited to a host: a copy would compete with the source's routes",
    };
  }
  let out = "";
  let at = 0;
  const hosts = new Set<string>();
  for (const { matcher, arg, negated } of uses) {
    // Each host is read, mapped and spliced once: its length in steps.
    count(meter, arg.end - arg.start);
    const source = arg.value.toLowerCase();
    if (dialect.catchAll !== undefined && source === dialect.catchAll) {
      return {
        ok: false,
        reason: `${clip(matcher, 30)}(${arg.quote}${dialect.catchAll}${arg.quote}) matches every host and cannot be mapped`,
      };
    }
    if (source === "") return { ok: false, reason: `${clip(matcher, 30)} has an empty host` };
    const m = mapHost(source);
    if (!m.ok) return { ok: false, reason: m.reason };
    if (!isDnsSubdomain(m.host)) {
      return {
        ok: false,
        reason: `mapped host "${clip(m.host, 100)}" is not a valid DNS name for ${clip(matcher, 30)}`,
      };
    }
    out += rule.slice(at, arg.start) + quoted(m.host, arg.quote);
    at = arg.end;
    if (!negated) hosts.add(m.host);
  }
  out += rule.slice(at);
  return { ok: true, rule: out, hosts: [...hosts] };
}

/** The hosts a rule serves (not under a negation), or [] when it is not a valid host rule. */
export function ruleHosts(rule: string, dialect: RuleDialect = HTTP_RULES): string[] {
  const r = rewriteRuleHosts(rule, (host) => ({ ok: true, host }), dialect);
  return r.ok ? r.hosts : [];
}
