// Traefik rule parsing and host rewriting (lib/traefik-rule.ts): one case per syntax feature, one
// regression case per defect of v1's text rewriter, and properties over generated rules.
//
// The properties use their own oracle: the generator builds a rule from pieces and records which
// pieces are host arguments, so the expected rewrite is known without the parser under test.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { HostMapping } from "../lib/hosts.ts";
import {
  constrained,
  HTTP_RULES,
  MAX_NESTING,
  MAX_RULE_LENGTH,
  parseRule,
  type RewriteResult,
  type RuleNode,
  rewriteRuleHosts,
  ruleHosts,
  TCP_RULES,
  type WorkMeter,
} from "../lib/traefik-rule.ts";

/**
 * Steps per character the parser and rewriter may take: a constant (a step per character scanned
 * and per token, a few peeks per token, a visit per node) with room to spare.
 */
const STEPS_PER_CHARACTER = 10;

/** develop -> feature-login in the label under example.com; anything else gets the base. */
function toFeature(host: string): HostMapping {
  if (host.endsWith(".example.com")) {
    const labels = host.slice(0, -".example.com".length).split(".");
    labels[labels.length - 1] = "feature-login";
    return { ok: true, host: `${labels.join(".")}.example.com` };
  }
  return { ok: true, host: "feature-login.example.com" };
}

const rewrite = (rule: string, dialect = HTTP_RULES) => rewriteRuleHosts(rule, toFeature, dialect);

function expectRule(result: RewriteResult, rule: string, hosts?: string[]): void {
  assert.ok(result.ok, `expected a rewrite, got: ${result.ok ? "" : result.reason}`);
  assert.equal(result.rule, rule);
  if (hosts !== undefined) assert.deepEqual(result.hosts, hosts);
}

function expectLeftOut(result: RewriteResult, reason: RegExp): void {
  assert.ok(!result.ok, `expected the rule to be left out, got ${JSON.stringify(result)}`);
  assert.match(result.reason, reason);
}

describe("syntax", () => {
  test("a single Host matcher in backticks", () => {
    expectRule(rewrite("Host(`develop.example.com`)"), "Host(`feature-login.example.com`)", [
      "feature-login.example.com",
    ]);
  });

  test("double-quoted strings keep their quote style", () => {
    expectRule(
      rewrite('Host("api.develop.example.com") && Path("/x")'),
      'Host("api.feature-login.example.com") && Path("/x")',
    );
  });

  test("Go escapes in double quotes are decoded before mapping", () => {
    // \x2e is ".", \u0064 is "d", \144 (octal) is "d", \" and \\ are kept in other matchers.
    expectRule(
      rewrite('Host("api\\x2e\\u0064evelop.example.com") && Header("X-A", "q\\"uote\\\\")'),
      'Host("api.feature-login.example.com") && Header("X-A", "q\\"uote\\\\")',
    );
    expectRule(rewrite('Host("\\144evelop.example.com")'), 'Host("feature-login.example.com")');
  });

  test("&&, || and parentheses", () => {
    expectRule(
      rewrite(
        "(Host(`a.develop.example.com`) || Host(`b.develop.example.com`)) && (PathPrefix(`/a`) || PathPrefix(`/b`))",
      ),
      "(Host(`a.feature-login.example.com`) || Host(`b.feature-login.example.com`)) && (PathPrefix(`/a`) || PathPrefix(`/b`))",
      ["a.feature-login.example.com", "b.feature-login.example.com"],
    );
  });

  test("! on a matcher and on a group; negated hosts are mapped but not served", () => {
    expectRule(
      rewrite("Host(`develop.example.com`) && !Host(`admin.develop.example.com`)"),
      "Host(`feature-login.example.com`) && !Host(`admin.feature-login.example.com`)",
      ["feature-login.example.com"],
    );
    expectRule(
      rewrite("Host(`develop.example.com`) && !(Method(`POST`) || PathPrefix(`/admin`))"),
      "Host(`feature-login.example.com`) && !(Method(`POST`) || PathPrefix(`/admin`))",
    );
  });

  test("v2 matchers with several arguments, and a trailing comma", () => {
    expectRule(
      rewrite("Host(`develop.example.com`, `api.develop.example.com`,)"),
      "Host(`feature-login.example.com`, `api.feature-login.example.com`,)",
      ["feature-login.example.com", "api.feature-login.example.com"],
    );
  });

  test("v2's HostHeader and Traefik v2's case variants of matcher names are host matchers", () => {
    expectRule(
      rewrite("HostHeader(`develop.example.com`)"),
      "HostHeader(`feature-login.example.com`)",
    );
    expectRule(
      rewrite("HOST(`develop.example.com`) || host(`api.develop.example.com`)"),
      "HOST(`feature-login.example.com`) || host(`api.feature-login.example.com`)",
    );
  });

  test("hosts are compared case-insensitively, as Traefik does: mapped lowercase", () => {
    expectRule(rewrite("Host(`API.Develop.Example.COM`)"), "Host(`api.feature-login.example.com`)");
  });

  test("whitespace, tabs and line breaks after operators are kept byte for byte", () => {
    const rule =
      "  Host( `develop.example.com` )\t&&\n  PathPrefix(`/api`) ||\r\n\tHost(`x.develop.example.com`)  \n";
    expectRule(
      rewrite(rule),
      "  Host( `feature-login.example.com` )\t&&\n  PathPrefix(`/api`) ||\r\n\tHost(`x.feature-login.example.com`)  \n",
    );
  });

  test("a line break after a matcher ends the rule for Traefik's Go parser: syntax error", () => {
    expectLeftOut(
      rewrite("Host(`develop.example.com`)\n&& PathPrefix(`/api`)"),
      /syntax error at character 28: a line break/,
    );
  });

  test("the AST carries source positions", () => {
    const r = parseRule('!(Host(`a`) || Path("/"))');
    assert.ok(r.ok);
    const expected: RuleNode = {
      type: "not",
      start: 0,
      end: 25,
      operand: {
        type: "group",
        start: 1,
        end: 25,
        inner: {
          type: "or",
          start: 2,
          end: 24,
          operands: [
            {
              type: "matcher",
              name: "Host",
              start: 2,
              end: 11,
              args: [{ value: "a", quote: "`", start: 7, end: 10 }],
            },
            {
              type: "matcher",
              name: "Path",
              start: 15,
              end: 24,
              args: [{ value: "/", quote: '"', start: 20, end: 23 }],
            },
          ],
        },
      },
    };
    assert.deepEqual(r.ast, expected);
  });

  test("&& binds tighter than ||; chains are n-ary", () => {
    const r = parseRule("A(`1`) || B(`2`) && C(`3`) && D(`4`) || E(`5`)");
    assert.ok(r.ok);
    assert.equal(r.ast.type, "or");
    assert.ok(r.ast.type === "or");
    assert.deepEqual(
      r.ast.operands.map((o) => o.type),
      ["matcher", "and", "matcher"],
    );
    const and = r.ast.operands[1];
    assert.ok(and?.type === "and");
    assert.equal(and.operands.length, 3);
  });

  test("raw strings hold anything but a backtick, including quotes, parentheses and operators", () => {
    expectRule(
      rewrite('Host(`develop.example.com`) && Header(`X-Rule`, `Host("a") && (b || !c)`)'),
      'Host(`feature-login.example.com`) && Header(`X-Rule`, `Host("a") && (b || !c)`)',
    );
  });

  for (const [rule, reason] of [
    ["", /character 1: expected a matcher/],
    [
      "Host(`a.example.com`",
      /character 21: expected , or \) in Host\(\.\.\.\), found the end of the rule/,
    ],
    ["Host(`a.example.com)", /unterminated string \(no closing `\)/],
    ['Host("a.example.com)', /unterminated string \(no closing "\)/],
    ['Host("a\nb")', /line break inside a double-quoted string/],
    ['Host("a\\qb")', /unknown escape sequence \\"q"/],
    ['Host("a\\x4")', /escape \\x needs 2 hexadecimal digits/],
    ['Host("\\ud800")', /not a valid Unicode code point/],
    ['Host("\\400")', /octal escape \\400 is above \\377/],
    ["Host(`a`) & Path(`/`)", /unexpected "&"/],
    ["Host(`a`) and Path(`/`)", /expected &&, \|\| or the end of the rule, found "and"/],
    ["Host(`a`) && ", /expected a matcher .* found the end of the rule/],
    ["Host `a`", /expected \( after the matcher name Host/],
    ["Host(1)", /unexpected "1"/],
    ["Host(a)", /expected a string argument or \)/],
    ["Host('a')", /unexpected "'"/],
    ["(Host(`a`)", /expected &&, \|\| or \)/],
    ["Host(`a`))", /expected &&, \|\| or the end of the rule, found "\)"/],
    ["Host(`a`) != Path(`/`)", /unexpected "!"/],
    ["Host(`a`) /* comment */", /unexpected "\/"/],
    ["Host(`a`)\u00a0&& Path(`/`)", /unexpected "\u00a0"/],
    ["Host(`a`)\u0000", /unexpected U\+0000/],
  ] as const) {
    test(`syntax error: ${JSON.stringify(rule)}`, () => expectLeftOut(rewrite(rule), reason));
  }

  test(`rules longer than ${MAX_RULE_LENGTH} characters are left out with a clear message`, () => {
    const rule = `Host(\`develop.example.com\`) && Path(\`/${"a".repeat(MAX_RULE_LENGTH)}\`)`;
    expectLeftOut(
      rewrite(rule),
      new RegExp(`the rule has ${rule.length} characters; at most ${MAX_RULE_LENGTH} are accepted`),
    );
  });

  test(`nesting deeper than ${MAX_NESTING} is a syntax error, not a stack overflow`, () => {
    const ok = `${"(".repeat(MAX_NESTING)}Host(\`develop.example.com\`)${")".repeat(MAX_NESTING)}`;
    assert.ok(rewrite(ok).ok);
    const deep = `${"(".repeat(2000)}Host(\`a\`)${")".repeat(2000)}`;
    expectLeftOut(rewrite(deep), /nested more than 64 deep/);
    expectLeftOut(rewrite(`${"!".repeat(4000)}Host(\`a\`)`), /nested more than 64 deep/);
  });
});

describe("what is left out", () => {
  test("HostRegexp anywhere in the rule, even beside a Host", () => {
    expectLeftOut(
      rewrite("Host(`develop.example.com`) || HostRegexp(`^.+\\.develop\\.example\\.com$`)"),
      /^HostRegexp \(character 32\) cannot be mapped into the target's domain$/,
    );
    expectLeftOut(
      rewrite("Host(`develop.example.com`) && !HostRegexp(`{sub:[a-z]+}.example.com`)"),
      /HostRegexp/,
    );
  });

  test("any other Host* matcher the dialect does not map (HostSNI in HTTP, HostSNIRegexp)", () => {
    expectLeftOut(rewrite("HostSNI(`develop.example.com`)"), /HostSNI .* cannot be mapped/);
    expectLeftOut(
      rewrite("HostSNIRegexp(`^.+$`) && HostSNI(`a.develop.example.com`)", TCP_RULES),
      /HostSNIRegexp/,
    );
    expectLeftOut(rewrite("HOSTREGEXP(`.*`) && Host(`a`)"), /HOSTREGEXP/);
  });

  test("rules without a host constraint", () => {
    const noHost = /^not limited to a host/;
    expectLeftOut(rewrite("PathPrefix(`/api`)"), noHost);
    expectLeftOut(rewrite("Host(`develop.example.com`) || PathPrefix(`/api`)"), noHost);
    expectLeftOut(rewrite("!Host(`develop.example.com`)"), noHost);
    expectLeftOut(rewrite("PathPrefix(`/`) && !Host(`develop.example.com`)"), noHost);
    expectLeftOut(rewrite("Header(`Host`, `develop.example.com`)"), noHost);
  });

  test("Host() without arguments and empty hosts", () => {
    expectLeftOut(rewrite("Host() && Host(`develop.example.com`)"), /Host\(\) has no host/);
    expectLeftOut(rewrite("Host(``)"), /Host has an empty host/);
  });

  test("a host the mapping refuses: the mapping's reason", () => {
    const r = rewriteRuleHosts("Host(`develop.example.com`)", () => ({
      ok: false,
      reason: "mapped host is too long",
    }));
    expectLeftOut(r, /^mapped host is too long$/);
  });

  test("a mapped host that is not a DNS name (a wildcard, upper case) is never emitted", () => {
    for (const host of ["*.feature.example.com", "Feature.example.com", "a..b", ""]) {
      expectLeftOut(
        rewriteRuleHosts("Host(`develop.example.com`)", () => ({ ok: true, host })),
        /is not a valid DNS name for Host/,
      );
    }
  });
});

describe("constrained", () => {
  const c = (rule: string) => {
    const r = parseRule(rule);
    assert.ok(r.ok);
    return constrained(r.ast);
  };
  test("Host -> true; other matchers -> false", () => {
    assert.equal(c("Host(`a`)"), true);
    assert.equal(c("Path(`/`)"), false);
  });
  test("A && B -> either; A || B -> both; !X -> false; groups are transparent", () => {
    assert.equal(c("Path(`/`) && Host(`a`)"), true);
    assert.equal(c("Path(`/`) || Host(`a`)"), false);
    assert.equal(c("Host(`b`) || (Host(`a`) && Path(`/`))"), true);
    assert.equal(c("!Host(`a`)"), false);
    assert.equal(c("!!Host(`a`)"), false);
    assert.equal(c("((Host(`a`)))"), true);
  });
});

describe("TCP rules (HostSNI)", () => {
  test("HostSNI hosts are mapped, other matchers kept", () => {
    expectRule(
      rewrite("HostSNI(`db.develop.example.com`) && ClientIP(`10.0.0.0/8`)", TCP_RULES),
      "HostSNI(`db.feature-login.example.com`) && ClientIP(`10.0.0.0/8`)",
      ["db.feature-login.example.com"],
    );
  });
  test("HostSNI(`*`) is a catch-all: left out", () => {
    expectLeftOut(rewrite("HostSNI(`*`)", TCP_RULES), /HostSNI\(`\*`\) matches every host/);
    expectLeftOut(
      rewrite("HostSNI(`db.develop.example.com`, `*`)", TCP_RULES),
      /matches every host/,
    );
  });
  test("Host is not a TCP matcher: left out", () => {
    expectLeftOut(rewrite("Host(`db.develop.example.com`)", TCP_RULES), /Host .* cannot be mapped/);
  });
});

describe("v1 defects (regressions)", () => {
  test("text after the host is kept (v1 dropped trailing text)", () => {
    expectRule(
      rewrite("Host(`a.develop.example.com`) && PathPrefix(`/api`)"),
      "Host(`a.feature-login.example.com`) && PathPrefix(`/api`)",
    );
  });

  test("a real host after a Host substring elsewhere is mapped (v1 rewrote the first substring)", () => {
    expectRule(
      rewrite("Headers(`X-Forwarded-Host`, `x`) && Host(`api.develop.example.com`)"),
      "Headers(`X-Forwarded-Host`, `x`) && Host(`api.feature-login.example.com`)",
    );
    expectRule(
      rewrite("PathPrefix(`/Host(x)`) && Host(`api.develop.example.com`)"),
      "PathPrefix(`/Host(x)`) && Host(`api.feature-login.example.com`)",
    );
    // A HostRegexp elsewhere is not skipped over: the rule is left out, never copied as is.
    expectLeftOut(rewrite("HostRegexp(`^x$`) || Host(`api.develop.example.com`)"), /HostRegexp/);
  });

  test("regexes are untouched (v1 mangled them)", () => {
    expectRule(
      rewrite("Host(`api.develop.example.com`) && PathRegexp(`^/api/(v1|v2)/.*$`)"),
      "Host(`api.feature-login.example.com`) && PathRegexp(`^/api/(v1|v2)/.*$`)",
    );
    expectRule(
      rewrite(
        'Host(`develop.example.com`) && HeadersRegexp(`Referer`, `^https?://[^/]*develop\\.example\\.com(:\\d+)?/`) && QueryRegexp("q", "^\\\\d{2,}$")',
      ),
      'Host(`feature-login.example.com`) && HeadersRegexp(`Referer`, `^https?://[^/]*develop\\.example\\.com(:\\d+)?/`) && QueryRegexp("q", "^\\\\d{2,}$")',
    );
  });

  test("double quotes are understood (v1 ignored them)", () => {
    expectRule(rewrite('Host("api.develop.example.com")'), 'Host("api.feature-login.example.com")');
  });
});

test("ruleHosts lists the hosts a rule serves, [] for a rule that is left out", () => {
  assert.deepEqual(ruleHosts("Host(`a.example.com`, `b.example.com`) && !Host(`c.example.com`)"), [
    "a.example.com",
    "b.example.com",
  ]);
  assert.deepEqual(ruleHosts("PathPrefix(`/`)"), []);
  assert.deepEqual(ruleHosts("HostSNI(`db.example.com`)", TCP_RULES), ["db.example.com"]);
});

// ---------------------------------------------------------------------------------------------
// Properties

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
/** Independent of lib/dns.ts: a DNS-1123 subdomain. */
const isSubdomain = (v: string) =>
  v.length > 0 && v.length <= 253 && v.split(".").every((l) => l.length <= 63 && DNS_LABEL.test(l));

/** A generated rule: its pieces, which of them are host arguments, and what it means. */
interface Gen {
  pieces: { text: string; host?: { value: string; quote: "`" | '"' } }[];
  /** Oracle of `constrained`. */
  constrained: boolean;
  /** Contains an unmappable Host* matcher. */
  refused: boolean;
  /** Contains a host matcher without arguments. */
  emptyHost: boolean;
  /** Source hosts under an even number of negations, lowercased. */
  served: string[];
  /** Source hosts under an odd number of negations. */
  negated: string[];
}

const wsArb = fc.constantFrom("", " ", "  ", "\t");
/** Whitespace allowed after an operator, "(" or ",": may break lines. */
const wsBreakArb = fc.constantFrom("", " ", "\t", "\n", "\r\n  ", " \n\t");

const labelArb = fc.stringMatching(/^[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,8}[a-zA-Z0-9])?$/);
const hostArb = fc
  .array(labelArb, { minLength: 1, maxLength: 4 })
  .map((labels) => labels.join("."));

/** Go-escapes a string for double quotes, sometimes escaping plain characters too. */
/** One character Go-escaped for double quotes; `fancy` also escapes a plain one. */
function goEscape(ch: string, i: number, fancy: boolean): string {
  const code = ch.codePointAt(0) ?? 0;
  const hex = (digits: number) => code.toString(16).padStart(digits, "0");
  if (ch === '"' || ch === "\\") return `\\${ch}`;
  if (ch === "\n") return "\\n";
  if (code < 0x20 || code === 0x7f) return `\\x${hex(2)}`;
  if (code > 0xffff) return `\\U${hex(8)}`;
  if (!fancy) return ch;
  if (code >= 0x80) return `\\u${hex(4)}`;
  return i % 2 === 0 ? `\\x${hex(2)}` : `\\${code.toString(8).padStart(3, "0")}`;
}

/** Go-escapes a string for double quotes, sometimes escaping plain characters too. */
function goQuote(value: string, fancy: readonly boolean[]): string {
  const out = [...value].map((ch, i) => goEscape(ch, i, fancy[i % fancy.length] === true));
  return `"${out.join("")}"`;
}

/** Any string argument of a non-host matcher, in either quote style. */
const otherArgArb = fc.oneof(
  fc
    .string({ unit: "grapheme-ascii", maxLength: 20 })
    .filter((s) => !s.includes("`"))
    .map((s) => `\`${s}\``),
  fc
    .tuple(fc.string({ unit: "grapheme", maxLength: 12 }), fc.array(fc.boolean(), { minLength: 1 }))
    .map(([s, fancy]) => goQuote(s, fancy)),
  fc.constantFrom(
    "`Host(`",
    '"Host(\\"a.develop.example.com\\")"',
    "`^/api/(v1|v2)/.*$`",
    "`X-Forwarded-Host`",
    '"&& || ! ( ) ,"',
  ),
);

const OTHER_MATCHERS = [
  "PathPrefix",
  "Path",
  "PathRegexp",
  "Headers",
  "Header",
  "Method",
  "Query",
  "ClientIP",
];
const HOST_MATCHERS = ["Host", "HostHeader", "host", "HOST", "Hostheader"];

function joinArgs(args: { text: string; ws: string; ws2: string }[], trailing: boolean): string[] {
  return args.map(
    (a, i) => `${a.ws}${a.text}${a.ws2}${i < args.length - 1 || trailing ? "," : ""}`,
  );
}

const leafArb: fc.Arbitrary<Gen> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...HOST_MATCHERS),
        fc.array(
          fc.tuple(
            hostArb,
            fc.constantFrom("`" as const, '"' as const),
            fc.array(fc.boolean(), { minLength: 1 }),
            wsBreakArb,
            wsArb,
          ),
          { minLength: 1, maxLength: 3 },
        ),
        fc.boolean(),
      )
      .map(([name, args, trailing]): Gen => {
        const pieces: Gen["pieces"] = [{ text: `${name}(` }];
        for (const [i, [host, quote, fancy, ws, ws2]] of args.entries()) {
          pieces.push({ text: ws });
          pieces.push({
            text: quote === "`" ? `\`${host}\`` : goQuote(host, fancy),
            host: { value: host, quote },
          });
          pieces.push({ text: `${ws2}${i < args.length - 1 || trailing ? "," : ""}` });
        }
        pieces.push({ text: ")" });
        return {
          pieces,
          constrained: true,
          refused: false,
          emptyHost: false,
          served: args.map(([h]) => h.toLowerCase()),
          negated: [],
        };
      }),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...OTHER_MATCHERS),
        fc.array(fc.record({ text: otherArgArb, ws: wsBreakArb, ws2: wsArb }), { maxLength: 3 }),
        fc.boolean(),
      )
      .map(
        ([name, args, trailing]): Gen => ({
          pieces: [{ text: `${name}(${joinArgs(args, trailing && args.length > 0).join("")})` }],
          constrained: false,
          refused: false,
          emptyHost: false,
          served: [],
          negated: [],
        }),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom("HostRegexp", "HostSNI", "HostSNIRegexp", "hostregexp", "Hostname"),
        otherArgArb,
      )
      .map(
        ([name, arg]): Gen => ({
          pieces: [{ text: `${name}(${arg})` }],
          constrained: false,
          refused: true,
          emptyHost: false,
          served: [],
          negated: [],
        }),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom("Host()", "HostHeader( )").map(
      (text): Gen => ({
        pieces: [{ text }],
        constrained: false,
        refused: false,
        emptyHost: true,
        served: [],
        negated: [],
      }),
    ),
  },
);

const ruleArb: fc.Arbitrary<Gen> = fc.letrec<{ rule: Gen }>((tie) => ({
  rule: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 3, arbitrary: leafArb },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.constantFrom("&&", "||"),
          fc.array(fc.tuple(tie("rule"), wsArb, wsBreakArb), { minLength: 2, maxLength: 3 }),
        )
        .map(([op, parts]): Gen => {
          const pieces: Gen["pieces"] = [];
          for (const [i, [g, ws, wsAfter]] of parts.entries()) {
            pieces.push(...g.pieces);
            if (i < parts.length - 1) pieces.push({ text: `${ws}${op}${wsAfter}` });
          }
          const gens = parts.map(([g]) => g);
          return {
            pieces,
            // Parenthesised below, so an operand's own operator does not matter.
            constrained:
              op === "&&" ? gens.some((g) => g.constrained) : gens.every((g) => g.constrained),
            refused: gens.some((g) => g.refused),
            emptyHost: gens.some((g) => g.emptyHost),
            served: gens.flatMap((g) => g.served),
            negated: gens.flatMap((g) => g.negated),
          };
        })
        .map((g) => ({ ...g, pieces: [{ text: "(" }, ...g.pieces, { text: ")" }] })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(tie("rule"), wsArb).map(
        ([g, ws]): Gen => ({
          pieces: [{ text: `!${ws}` }, ...g.pieces],
          constrained: false,
          refused: g.refused,
          emptyHost: g.emptyHost,
          served: g.negated,
          negated: g.served,
        }),
      ),
    },
  ),
})).rule;

const ruleText = (g: Gen) => g.pieces.map((p) => p.text).join("");

/** The real mapping of the product, with a top-level domain: always valid for these hosts. */
function mapHost(host: string): HostMapping {
  const labels = host.split(".");
  return { ok: true, host: `${labels[0]}.feature-login.example.com` };
}

describe("properties", () => {
  test("(a) only host arguments change; every other byte is identical", () => {
    fc.assert(
      fc.property(fc.tuple(wsArb, ruleArb, fc.constantFrom("", " ", "\n")), ([lead, g, trail]) => {
        const rule = `${lead}${ruleText(g)}${trail}`;
        if (rule.length > MAX_RULE_LENGTH) return;
        const r = rewriteRuleHosts(rule, mapHost);
        if (g.refused || g.emptyHost || !g.constrained) {
          assert.ok(!r.ok, `expected ${JSON.stringify(rule)} to be left out`);
          return;
        }
        assert.ok(r.ok, `${JSON.stringify(rule)}: ${r.ok ? "" : r.reason}`);
        const expected =
          lead +
          g.pieces
            .map((p) => {
              if (p.host === undefined) return p.text;
              const m = mapHost(p.host.value.toLowerCase());
              assert.ok(m.ok);
              return `${p.host.quote}${m.host}${p.host.quote}`;
            })
            .join("") +
          trail;
        assert.equal(r.rule, expected);
        const served = [...new Set(g.served.map((h) => (mapHost(h) as { host: string }).host))];
        assert.deepEqual(r.hosts, served);
      }),
      { numRuns: 1500 },
    );
  });

  test("(b) parse never throws, and its work is linear in the rule's length, on random and adversarial input", () => {
    // Counted steps (characters scanned, tokens looked at, nodes visited), not wall time: a
    // quadratic or backtracking path on "((((…" would take millions of steps for 4096 characters.
    const assertLinear = (rule: string) => {
      const meter: WorkMeter = { steps: 0 };
      const r = rewriteRuleHosts(rule, mapHost, HTTP_RULES, meter);
      assert.ok(typeof r.ok === "boolean");
      const bound = STEPS_PER_CHARACTER * (Math.min(rule.length, MAX_RULE_LENGTH) + 1);
      assert.ok(
        meter.steps <= bound,
        `${JSON.stringify(rule.slice(0, 30))}… (${rule.length} characters) took ${meter.steps} steps, over ${bound}`,
      );
      return meter.steps;
    };
    const tokenSoup = fc
      .array(
        fc.constantFrom(
          "Host(",
          "HostRegexp(",
          "Path(",
          "(",
          ")",
          "&&",
          "||",
          "!",
          ",",
          " ",
          "\n",
          "`",
          '"',
          "\\",
          "\\x",
          "\\u12",
          "\\U0010ffff",
          "\\777",
          "a.b",
          "`x`",
          '"y"',
          "&",
          "|",
          "=",
          "/*",
        ),
        { maxLength: 200 },
      )
      .map((a) => a.join(""));
    const input = fc.oneof(
      fc.string({ unit: "binary", maxLength: 300 }),
      tokenSoup,
      ruleArb.map(ruleText),
      ruleArb.map((g) => ruleText(g).slice(0, Math.max(0, ruleText(g).length - 3))),
    );
    fc.assert(
      fc.property(input, (rule) => {
        assertLinear(rule);
      }),
      { numRuns: 3000 },
    );

    const adversarial = [
      "(".repeat(MAX_RULE_LENGTH),
      "!".repeat(MAX_RULE_LENGTH),
      `${"!(".repeat(MAX_RULE_LENGTH / 2)}`,
      "`".repeat(MAX_RULE_LENGTH),
      `"${"\\".repeat(MAX_RULE_LENGTH - 1)}`,
      `"${"\\x41".repeat((MAX_RULE_LENGTH - 2) / 4)}"`,
      `Host(${"`a.b`,".repeat((MAX_RULE_LENGTH - 6) / 6)})`,
      Array.from({ length: 400 }, () => "Host(`a.example.com`)")
        .join("||")
        .slice(0, MAX_RULE_LENGTH),
      Array.from({ length: 400 }, () => "Path(`/`)").join(" && "),
      `Host(\`${"a".repeat(MAX_RULE_LENGTH - 8)}\`)`,
      "x".repeat(1_000_000),
      // Valid and deeply nested (a walk that revisits subtrees doubles its work per level); the
      // shallower ones first, so such a walk fails the bound before the deepest runs long.
      ...[8, 16, MAX_NESTING].flatMap((depth) => [
        `${"(".repeat(depth)}Host(\`a.example.com\`)${")".repeat(depth)}`,
        `${"(Host(`a.example.com`) && ".repeat(depth)}Path(\`/\`)${")".repeat(depth)}`,
        `${"(Path(`/`) || ".repeat(depth)}Host(\`a.example.com\`)${")".repeat(depth)}`,
        `Host(\`a.example.com\`) && ${"!(".repeat(depth)}Path(\`/\`)${")".repeat(depth)}`,
      ]),
    ];
    for (const rule of adversarial) assertLinear(rule);
    // The meter counts: a long valid rule takes at least a step per character.
    const valid = Array.from({ length: 100 }, () => "Host(`a.example.com`)").join(" || ");
    assert.ok(assertLinear(valid) >= valid.length);
  });

  test("(c) every host written into a rule is a valid DNS name, whatever the mapping returns", () => {
    const anyHost = fc.oneof(
      hostArb,
      fc.string({ maxLength: 30 }),
      fc.constantFrom(
        "*.a.example.com",
        "A.example.com",
        "a..b",
        `${"a".repeat(64)}.x`,
        "a b",
        "`",
        '"',
      ),
    );
    fc.assert(
      fc.property(ruleArb, fc.func(anyHost), (g, fn) => {
        const r = rewriteRuleHosts(ruleText(g), (h) => ({ ok: true, host: fn(h) }));
        if (!r.ok) return;
        for (const h of r.hosts) assert.ok(isSubdomain(h), `served host ${JSON.stringify(h)}`);
        // Every argument of a host matcher in the output, read back: valid DNS too.
        const again = parseRule(r.rule);
        assert.ok(again.ok);
        assertHostArgumentsValid(again.ast);
      }),
      { numRuns: 1500 },
    );
  });
});

/** Every argument of a host matcher in `node` is valid DNS. */
function assertHostArgumentsValid(node: RuleNode): void {
  if (node.type === "matcher") {
    if (["host", "hostheader"].includes(node.name.toLowerCase()))
      for (const a of node.args) assert.ok(isSubdomain(a.value), JSON.stringify(a.value));
  } else if (node.type === "not") assertHostArgumentsValid(node.operand);
  else if (node.type === "group") assertHostArgumentsValid(node.inner);
  else node.operands.forEach(assertHostArgumentsValid);
}
