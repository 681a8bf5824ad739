// Adversarial annotation values: patterns built to make backtracking engines hang, 10 kB values
// in every key, unicode (emoji, RTL overrides, NUL, newlines), empty items, broken selectors and
// host templates, bad skip lists. The engine must answer normally, report the bad source as
// InvalidAnnotation naming the annotation's field path, and never throw. No test here reads a
// clock: the work is bounded by construction (RE2 matches in time linear in program size times
// name length, and every accepted pattern's program size is asserted below), and the speed is
// measured by the bench.

import assert from "node:assert/strict";
import { test } from "node:test";
import { RE2JS } from "re2js";
import { type Config, parseConfig } from "../lib/config.ts";
import { computeSync, type SyncOutcome } from "../lib/engine.ts";
import { MAX_PATTERN_LENGTH, MAX_PROGRAM_SIZE, parseNameList } from "../lib/patterns.ts";
import { parseSyncRequest } from "../lib/request.ts";
import type { StatusEntry } from "../lib/status.ts";
import type { KubeObject } from "../lib/types.ts";
import { ingress, namespace, service, syncRequest } from "./support/builders.ts";

const P = "kube-external-sync.io/";
const field = (key: string) => `metadata.annotations[${P}${key}]`;
const STATUS = `${P}status`;
const TEN_KB = 10 * 1024;

type Kind = "Service" | "Ingress";

interface SourceDef {
  kind?: Kind;
  name: string;
  namespace?: string;
  annotations: Record<string, string>;
}

interface RequestDef {
  namespace?: string;
  nsLabels?: Record<string, string>;
  nsAnnotations?: Record<string, string>;
  sources: SourceDef[];
}

function sourceObject(s: SourceDef): KubeObject {
  const build = (s.kind ?? "Service") === "Service" ? service : ingress;
  return build(s.name, { namespace: s.namespace ?? "develop", annotations: s.annotations });
}

/** A sync request in Metacontroller's exact shape (examples/sync-request.json). */
function rawRequest(def: RequestDef): unknown {
  const parent = namespace(def.namespace ?? "feature-a", {
    labels: def.nsLabels ?? {},
    ...(def.nsAnnotations ? { annotations: def.nsAnnotations } : {}),
  });
  return syncRequest({ namespace: parent, related: def.sources.map(sourceObject) });
}

const defaultConfig = parseConfig({ defaultTopLevelDomain: "*.example.com" });

function run(def: RequestDef, config: Config = defaultConfig): SyncOutcome {
  return computeSync(parseSyncRequest(rawRequest(def), config), config);
}

/** The status annotation the answer writes; deleted (null) means nothing to report. */
function statusOf(out: SyncOutcome): {
  invalid: StatusEntry[];
  skipped: StatusEntry[];
  omitted: number;
} {
  const text = out.response.annotations[STATUS];
  if (text === null) return { invalid: [], skipped: [], omitted: 0 };
  assert.equal(typeof text, "string", "no status annotation");
  return { omitted: 0, ...JSON.parse(text as string) };
}

/** The source is reported as InvalidAnnotation, with the annotation's field path in the message. */
function assertReported(out: SyncOutcome, source: string, key: string): void {
  const status = statusOf(out);
  const hit = status.invalid.find(
    (i) =>
      i.reason === "InvalidAnnotation" && i.source === source && i.message.includes(field(key)),
  );
  assert.ok(
    hit !== undefined,
    `${source} not reported with ${field(key)}; status: ${JSON.stringify(status).slice(0, 600)}`,
  );
  assert.ok(!hit.message.includes("\n") && hit.message.length <= 200, "message is not one line");
}

const mirrorNames = (out: SyncOutcome) =>
  out.response.attachments.map((a) => `${a.kind}/${a.metadata.name}`);

// ---------------------------------------------------------------------------------------------
// Values that must be rejected, per key

const CATASTROPHIC = ["(a+)+$", "(a|a)*b", "(.*a){20}", "(a*)*b", "^(a|aa)+$", "(x+x+)+y"];
const tenKb = (unit: string) => unit.repeat(Math.ceil(TEN_KB / unit.length)).slice(0, TEN_KB);

const INVALID: Record<string, string[]> = {
  "replicate-to": [
    "(",
    "feature-[",
    "a{1001}",
    "(a{1000}){1000}",
    "\\C",
    "a**",
    "feature-a,(,staging",
    `(a+)+$${tenKb("a")}`,
    tenKb("(a|a)*"),
    `🚀(${tenKb("é")}`,
  ],
  "exclude-namespaces": ["(", "[z-a]", "x{1001}", tenKb("(.*a){20}"), "\u202e(feature"],
  "replicate-to-matching": [
    "",
    "   ",
    "a in (",
    "a in ()",
    "=b",
    "!",
    "a==b==c",
    ",,,",
    "é=1",
    "\u202eteam=a",
    "🚀",
    "a=b\u0000",
    "team\n=\n=",
    "branch>1",
    tenKb("a=b,"),
    tenKb("a"),
  ],
  "replicate-to-annotated": ["", "a in (", "(", "!", "a==b==c", "\u0000", tenKb("owner=alice,")],
  "external-name-suffix": [
    "Bad_Suffix",
    "",
    "-x.local",
    "🚀.example.com",
    "svc\ncluster.local",
    tenKb("a."),
  ],
  "top-level-domain": [
    "*.",
    "Example.COM",
    "*.-bad",
    "*.a_b.com",
    "*.\u202eexample.com",
    "*.a\nb.com",
    "*.example.com\u0000",
    tenKb("x"),
  ],
  "host-template": [
    "{",
    "}",
    "{{namespace}}",
    "{unknown}.{namespace}.example.com",
    "static.example.com",
    "{name}.example.com",
    "{namespace",
    "{namespace}..com",
    "{namespace}.🚀.com",
    "{namespace}.\u0000.com",
    `{namespace}${tenKb(".a")}`,
    tenKb("{"),
  ],
  "tld-secret-name": ["Bad Name", "UPPER", "\u0000", "🚀", tenKb("a")],
  "strip-labels": ["???", "a b", "🚀", "a\u0000b", tenKb("a")],
  "strip-annotations": ["%", "a b c", "\u202e", `${tenKb("k,")}?`],
};

// A valid targeting key, so the object is a source even when the key under test is not one.
const BASE = { [`${P}replicate-to`]: "feature-.*" };

for (const [key, values] of Object.entries(INVALID)) {
  for (const [index, value] of values.entries()) {
    const label = `${key} = ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}${value.length > 40 ? ` (${value.length} chars)` : ""}`;
    test(`invalid ${label}: reported as InvalidAnnotation, no mirror, no throw`, () => {
      for (const kind of ["Service", "Ingress"] as const) {
        const name = `bad-${index}`;
        const out = run({
          sources: [
            { kind, name, annotations: { ...BASE, [`${P}${key}`]: value } },
            // A well-behaved neighbour is unaffected.
            { kind, name: "good", annotations: BASE },
          ],
        });
        assertReported(out, `develop/${name}`, key);
        assert.deepEqual(mirrorNames(out), [`${kind}/good`]);
        assert.equal(out.counts.invalidSources, 1);
      }
    });
  }
}

test("a 10 kB invalid value in every key at once: reported, no throw", () => {
  const annotations: Record<string, string> = {};
  for (const [key, values] of Object.entries(INVALID)) {
    annotations[`${P}${key}`] = values.find((v) => v.length >= TEN_KB) ?? tenKb("x");
  }
  annotations[`${P}keep-owner-references`] = tenKb("t");
  annotations[`${P}${tenKb("u")}`] = tenKb("v");
  annotations[tenKb("k")] = tenKb("w"); // not ours: copied or not, never a crash
  for (const kind of ["Service", "Ingress"] as const) {
    const out = run({ sources: [{ kind, name: "all", annotations }] });
    assertReported(out, "develop/all", "replicate-to"); // the first error, by key order
    assert.deepEqual(out.response.attachments, []);
    const status = JSON.stringify(statusOf(out));
    assert.ok(status.length < 4096, `status is ${status.length} characters: values not clipped`);
  }
});

// ---------------------------------------------------------------------------------------------
// Values that are odd but valid: handled by their meaning, never a crash

test("unicode replicate-to items are patterns that match nothing else", () => {
  for (const value of ["🚀", "\u202efeature-a", "feature-a\u0000", "feature-\na", "ｆeature-a"]) {
    const out = run({ sources: [{ name: "u", annotations: { [`${P}replicate-to`]: value } }] });
    assert.deepEqual(mirrorNames(out), [], JSON.stringify(value));
    JSON.parse(out.response.annotations[STATUS] as string);
  }
});

test("empty items are ignored: ',,,' targets nothing, ' , feature-a ,, ' targets feature-a", () => {
  for (const key of ["replicate-to", "exclude-namespaces"]) {
    const out = run({
      sources: [{ name: "e", annotations: { ...BASE, [`${P}${key}`]: ",,," } }],
    });
    assert.equal(statusOf(out).invalid.length, 0, key);
    assert.deepEqual(mirrorNames(out), key === "replicate-to" ? [] : ["Service/e"]);
  }
  const only = run({ sources: [{ name: "e", annotations: { [`${P}replicate-to`]: ",,," } }] });
  assert.deepEqual(mirrorNames(only), []);
  const spaced = run({
    sources: [{ name: "e", annotations: { [`${P}replicate-to`]: " , feature-a ,, \t" } }],
  });
  assert.deepEqual(mirrorNames(spaced), ["Service/e"]);
});

test("a 10 kB list of plain names is accepted and matched", () => {
  const list = `${tenKb("feature-zz,")},feature-a`;
  const out = run({ sources: [{ name: "l", annotations: { [`${P}replicate-to`]: list } }] });
  assert.deepEqual(mirrorNames(out), ["Service/l"]);
});

test("10 kB and unicode values in ordinary annotations are copied, not parsed", () => {
  const annotations = {
    ...BASE,
    description: tenKb("🚀\u202e\u0000\n"),
    [tenKb("k")]: "v",
  };
  const out = run({ sources: [{ name: "c", annotations }] });
  assert.deepEqual(mirrorNames(out), ["Service/c"]);
  assert.equal(
    out.response.attachments[0]?.metadata.annotations?.description,
    annotations.description,
  );
});

// ---------------------------------------------------------------------------------------------
// The target namespace's skip annotation

const BAD_SKIP = [
  "Foo/x",
  "!!",
  "Ingress/",
  "/x",
  "Service/UPPER",
  "🚀",
  "a\u0000",
  "\u202eapi",
  "api,Deployment/web",
  tenKb("x"),
  tenKb("Foo/x,"),
];

for (const value of BAD_SKIP) {
  const shown =
    value.length > 30
      ? `${JSON.stringify(value.slice(0, 30))}… (${value.length})`
      : JSON.stringify(value);
  test(`skip = ${shown}: reported on the namespace, bad items ignored, no throw`, () => {
    const out = run({
      nsAnnotations: { [`${P}skip`]: value },
      sources: [{ name: "web", annotations: BASE }],
    });
    const status = statusOf(out);
    const hit = [...status.invalid].find(
      (i) =>
        i.reason === "InvalidAnnotation" &&
        i.object === "Namespace/feature-a" &&
        i.message.includes(field("skip")),
    );
    assert.ok(hit !== undefined, JSON.stringify(status).slice(0, 400));
    // An ignored item can only keep a mirror, never delete one.
    assert.deepEqual(mirrorNames(out), ["Service/web"]);
    assert.ok(JSON.stringify(status).length < 32 * 1024, "status not capped");
  });
}

test("skip = ',,,' skips nothing; skip = '*' skips everything; neither is an error", () => {
  const empty = run({
    nsAnnotations: { [`${P}skip`]: ",,," },
    sources: [{ name: "web", annotations: BASE }],
  });
  assert.deepEqual(mirrorNames(empty), ["Service/web"]);
  assert.equal(statusOf(empty).invalid.length, 0);
  const all = run({
    nsAnnotations: { [`${P}skip`]: " * " },
    sources: [
      { name: "web", annotations: BASE },
      { kind: "Ingress", name: "web", annotations: BASE },
    ],
  });
  assert.deepEqual(mirrorNames(all), []);
  assert.equal(statusOf(all).invalid.length, 0);
});

// ---------------------------------------------------------------------------------------------
// Catastrophic-backtracking patterns: RE2 semantics, linear time

const A63 = "a".repeat(63);
const A62B = `${"a".repeat(62)}b`;

test("catastrophic patterns in replicate-to match by RE2 semantics against 63-character names", () => {
  // Whole-name (anchored) matches, as a linear-time engine computes them.
  const expected: Record<string, [boolean, boolean]> = {
    "(a+)+$": [true, false],
    "(a|a)*b": [false, true],
    "(.*a){20}": [true, false],
    "(a*)*b": [false, true],
    "^(a|aa)+$": [true, false],
    "(x+x+)+y": [false, false],
  };
  for (const [pattern, [onA63, onA62B]] of Object.entries(expected)) {
    for (const [ns, want] of [
      [A63, onA63],
      [A62B, onA62B],
    ] as const) {
      const out = run({
        namespace: ns,
        sources: [{ name: "p", annotations: { [`${P}replicate-to`]: pattern } }],
      });
      assert.deepEqual(mirrorNames(out), want ? ["Service/p"] : [], `${pattern} vs ${ns}`);
    }
  }
});

test("every catastrophic pattern accepted compiles to a bounded program: linear match work", () => {
  // RE2 runs a match in steps proportional to the program size times the name's length, so a
  // bounded program is a bounded amount of work per namespace name, whatever the pattern.
  const items = [
    ...CATASTROPHIC,
    ...CATASTROPHIC.flatMap((pattern, i) => [`${pattern}|p${i}-x`, `${pattern}|q${i}`]),
    "((ab|cd|ef|gh){30}){30}|feature-a",
    "(.*a){1000}|s0",
    "\\pL{1000}|s1",
  ];
  let accepted = 0;
  for (const item of items) {
    const parsed = parseNameList(item, "replicate-to");
    if (!parsed.ok) continue;
    accepted++;
    assert.ok(item.length <= MAX_PATTERN_LENGTH, item);
    const size = RE2JS.compile(item, RE2JS.DISABLE_UNICODE_GROUPS).programSize();
    assert.ok(size <= MAX_PROGRAM_SIZE, `${item}: program size ${size}`);
  }
  assert.ok(accepted >= CATASTROPHIC.length * 3, "the catastrophic patterns are valid RE2");
  // The large programs are refused by the bounds, not compiled and kept.
  for (const item of items.slice(-3)) {
    assert.equal(parseNameList(item, "replicate-to").ok, false, item);
  }
});

test("catastrophic patterns in exclude-namespaces win over replicate-to", () => {
  for (const pattern of CATASTROPHIC) {
    const out = run({
      namespace: A63,
      sources: [
        {
          name: "p",
          annotations: { [`${P}replicate-to`]: ".*", [`${P}exclude-namespaces`]: pattern },
        },
      ],
    });
    // Whole-name matches of 63 a's (V8's backtracking RegExp would hang on some of these).
    const excluded = ["(a+)+$", "(.*a){20}", "^(a|aa)+$"].includes(pattern);
    assert.deepEqual(mirrorNames(out), excluded ? [] : ["Service/p"], pattern);
  }
});

test("catastrophic patterns in the config's excludeNamespaces", () => {
  const config = parseConfig({ excludeNamespaces: ["kube-system", ...CATASTROPHIC] });
  const out = run(
    { namespace: A63, sources: [{ name: "p", annotations: { [`${P}replicate-to`]: ".*" } }] },
    config,
  );
  assert.deepEqual(out.response.attachments, []);
  const other = run(
    { namespace: A62B, sources: [{ name: "p", annotations: { [`${P}replicate-to`]: ".*" } }] },
    config,
  );
  // (a|a)*b and (a*)*b exclude it as well.
  assert.deepEqual(other.response.attachments, []);
});

test("200 sources with distinct catastrophic patterns, each way: matched by RE2 semantics", () => {
  const sources: SourceDef[] = [];
  for (let i = 0; i < 200; i++) {
    const pattern = CATASTROPHIC[i % CATASTROPHIC.length] as string;
    // A distinct pattern per source, so nothing is served from a compiled-pattern cache.
    sources.push({
      kind: i % 2 === 0 ? "Service" : "Ingress",
      name: `p${i}`,
      annotations: {
        [`${P}replicate-to`]: `${pattern}|p${i}-x,feature-.*`,
        [`${P}exclude-namespaces`]: `${pattern}|q${i}`,
      },
    });
  }
  for (const ns of [A63, A62B]) {
    const raw = rawRequest({ namespace: ns, sources });
    const out = computeSync(parseSyncRequest(raw, defaultConfig), defaultConfig);
    assert.equal(out.counts.invalidSources, 0);
    // The same pattern targets and excludes a name, so whatever it matches, nothing is mirrored.
    assert.deepEqual(out.response.attachments, []);
  }
});

test("200 sources with invalid annotations: all counted, status capped", () => {
  const keys = Object.keys(INVALID);
  const sources: SourceDef[] = [];
  for (let i = 0; i < 200; i++) {
    const key = keys[i % keys.length] as string;
    const values = INVALID[key] ?? [];
    sources.push({
      kind: i % 2 === 0 ? "Service" : "Ingress",
      name: `s${i}`,
      annotations: { ...BASE, [`${P}${key}`]: values[i % values.length] ?? "(" },
    });
  }
  const raw = rawRequest({ sources });
  const out = computeSync(parseSyncRequest(raw, defaultConfig), defaultConfig);
  assert.equal(out.counts.invalidSources, 200);
  assert.deepEqual(out.response.attachments, []);
  const status = statusOf(out);
  assert.equal(status.invalid.length + status.skipped.length + status.omitted, 200);
  for (const i of status.invalid) {
    assert.equal(i.reason, "InvalidAnnotation");
    const key = keys.find((k) => i.message.includes(field(k)));
    assert.ok(key !== undefined, `no field path in ${i.message}`);
  }
  assert.ok((out.response.annotations[STATUS] as string).length < 32 * 1024);
});

test("1,000 sources, each with a 10 kB pathological pattern: all reported", () => {
  const sources: SourceDef[] = [];
  for (let i = 0; i < 1000; i++) {
    const pattern = `${CATASTROPHIC[i % CATASTROPHIC.length]}|s${i}|`;
    sources.push({
      name: `s${i}`,
      annotations: {
        [`${P}replicate-to`]: `${pattern}${tenKb("(a|a)*")}`.slice(0, TEN_KB),
        [`${P}exclude-namespaces`]: `${pattern}${tenKb("(.*a){20}")}`.slice(0, TEN_KB),
      },
    });
  }
  const raw = rawRequest({ namespace: A63, sources });
  const out = computeSync(parseSyncRequest(raw, defaultConfig), defaultConfig);
  assert.equal(out.counts.invalidSources, 1000);
  assert.deepEqual(out.response.attachments, []);
  const status = statusOf(out);
  assert.ok(status.omitted >= 1000 - 50);
  assert.ok((out.response.annotations[STATUS] as string).length < 32 * 1024);
});

test("short patterns that would compile large are refused and not kept", () => {
  const sources: SourceDef[] = [];
  for (let i = 0; i < 2000; i++) {
    // Valid RE2, 15 characters, but a huge program: refused by repeat count or Unicode class.
    const pattern = i % 2 === 0 ? `(.*a){1000}|s${i}` : `\\pL{1000}|s${i}`;
    sources.push({ name: `big${i}`, annotations: { [`${P}replicate-to`]: pattern } });
  }
  const heapBefore = process.memoryUsage().heapUsed;
  const raw = rawRequest({ namespace: A63, sources });
  const out = computeSync(parseSyncRequest(raw, defaultConfig), defaultConfig);
  assert.equal(out.counts.invalidSources, 2000);
  const grown = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(grown < 256 * 1024 * 1024, `heap grew by ${Math.round(grown / 1e6)} MB`);
  const status = statusOf(out);
  assert.match(status.invalid[0]?.message ?? "", /repeat counts above 63|not a valid RE2 pattern/);
});

test("a pattern with a comma inside braces or brackets stays one item", () => {
  const out = run({
    namespace: "team-42",
    sources: [{ name: "api", annotations: { [`${P}replicate-to`]: "team-[0-9]{1,3},qa" } }],
  });
  assert.deepEqual(mirrorNames(out), ["Service/api"]);
  assert.equal(out.counts.invalidSources, 0);
});

test("a pattern within the repeat bound but with a huge program is refused as too complex", () => {
  const out = run({
    namespace: "feature-a",
    sources: [
      { name: "api", annotations: { [`${P}replicate-to`]: "((ab|cd|ef|gh){30}){30}|feature-a" } },
    ],
  });
  assert.deepEqual(mirrorNames(out), []);
  assert.match(
    statusOf(out).invalid[0]?.message ?? "",
    /too complex \(program size \d+, at most 512\)/,
  );
});
