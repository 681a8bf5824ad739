// lib/selector.ts: label selector syntax (docs/design.md#selectors), one table row per behaviour.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatFieldError } from "../lib/errors.ts";
import {
  MAX_SELECTOR_LENGTH,
  parseSelector,
  type Selector,
  type SelectorMode,
  toLabelSelector,
} from "../lib/selector.ts";

const FIELD = "metadata.annotations[kube-external-sync.io/replicate-to-matching]";

function parsed(value: string, mode: SelectorMode = "labels"): Selector {
  const result = parseSelector(value, FIELD, mode);
  assert.ok(result.ok, `${value}: ${result.ok ? "" : result.errors.map(formatFieldError).join()}`);
  return result.value;
}

function problem(value: string, mode: SelectorMode = "labels"): string {
  const result = parseSelector(value, FIELD, mode);
  assert.ok(!result.ok, `${JSON.stringify(value)} should be rejected`);
  return result.errors.map(formatFieldError).join("; ");
}

describe("parseSelector: what each form matches", () => {
  const cases: {
    selector: string;
    matches: Record<string, string>[];
    rejects: (Record<string, string> | undefined)[];
  }[] = [
    { selector: "a=b", matches: [{ a: "b" }], rejects: [{ a: "c" }, {}, undefined] },
    { selector: "a==b", matches: [{ a: "b" }], rejects: [{ a: "c" }] },
    { selector: "a!=b", matches: [{ a: "c" }, {}], rejects: [{ a: "b" }] },
    { selector: "a in (x, y)", matches: [{ a: "x" }, { a: "y" }], rejects: [{ a: "z" }, {}] },
    { selector: "a notin (x,y)", matches: [{ a: "z" }, {}], rejects: [{ a: "x" }] },
    { selector: "a", matches: [{ a: "" }, { a: "v" }], rejects: [{}, undefined] },
    { selector: "!a", matches: [{}, { b: "a" }], rejects: [{ a: "" }] },
    { selector: "a=", matches: [{ a: "" }], rejects: [{ a: "b" }] },
    {
      selector: "team=payments, tier in (web,api), !legacy",
      matches: [{ team: "payments", tier: "api" }],
      rejects: [{ team: "payments", tier: "api", legacy: "yes" }, { team: "payments" }],
    },
    {
      selector: "example.com/branch=true",
      matches: [{ "example.com/branch": "true" }],
      rejects: [{ branch: "true" }],
    },
  ];
  for (const { selector, matches, rejects } of cases) {
    test(selector, () => {
      const s = parsed(selector);
      for (const labels of matches) assert.ok(s.matches(labels), JSON.stringify(labels));
      for (const labels of rejects) assert.ok(!s.matches(labels), JSON.stringify(labels));
    });
  }
});

describe("parseSelector: rejected selectors name the field, the value and why", () => {
  const cases: { selector: string; mode?: SelectorMode; why: RegExp }[] = [
    { selector: "", why: /must not be empty/ },
    { selector: "   ", why: /must not be empty/ },
    { selector: "a<3", why: /operators < and > are not label selector syntax/ },
    { selector: "a=b,", why: /expected a requirement at the end/ },
    { selector: "a=b c", why: /expected ',' at position 4/ },
    { selector: "a in x", why: /expected '\(' at position 5/ },
    { selector: "a in (x", why: /expected ',' or '\)' at the end/ },
    { selector: "a in ()", why: /expected a value at position 6/ },
    { selector: "a foo", why: /expected '=', '!=', 'in', 'notin' or ','/ },
    { selector: "!", why: /expected a key at the end/ },
    { selector: "-a=b", why: /name must be 1-63 characters/ },
    { selector: "Bad_Prefix/a=b", why: /prefix must be a DNS subdomain/ },
    { selector: `a=${"v".repeat(64)}`, why: /a label value is at most 63/ },
    { selector: "a=b c", mode: "annotations", why: /expected ','/ },
    { selector: `a=${"b".repeat(MAX_SELECTOR_LENGTH)}`, why: /more than 4096/ },
  ];
  for (const { selector, mode, why } of cases) {
    test(`${JSON.stringify(selector.slice(0, 40))} (${mode ?? "labels"})`, () => {
      const message = problem(selector, mode);
      assert.ok(message.startsWith(`${FIELD}: Invalid value: `), message);
      assert.match(message, why);
    });
  }
});

test("annotation mode takes any token as a value; label mode only label values", () => {
  const value = "https://example.com/x";
  assert.ok(parsed(`link=${value}`, "annotations").matches({ link: value }));
  assert.match(problem(`link=${value}`, "labels"), /a label value is at most 63/);
});

test("toLabelSelector: values only for In and NotIn, set values sorted and deduplicated", () => {
  assert.deepEqual(toLabelSelector(parsed("a in (y,x,y),!b,c,d!=e")), {
    matchExpressions: [
      { key: "a", operator: "In", values: ["x", "y"] },
      { key: "b", operator: "DoesNotExist" },
      { key: "c", operator: "Exists" },
      { key: "d", operator: "NotIn", values: ["e"] },
    ],
  });
});
