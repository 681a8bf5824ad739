// lib/patterns.ts: namespace name lists (docs/design.md#name-lists-and-patterns), table-driven.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatFieldError } from "../lib/errors.ts";
import { MAX_PATTERN_LENGTH, type NameMatcher, parseNameList, splitList } from "../lib/patterns.ts";

const FIELD = "metadata.annotations[kube-external-sync.io/replicate-to]";

function matcher(value: string): NameMatcher {
  const result = parseNameList(value, FIELD);
  assert.ok(result.ok, `${value}: ${result.ok ? "" : result.errors.map(formatFieldError).join()}`);
  return result.value;
}

describe("splitList: commas inside (), [], {} and after a backslash do not split", () => {
  const cases: [string, string[]][] = [
    ["a,b", ["a", "b"]],
    ["a, b ,", ["a", " b ", ""]],
    ["team-[0-9]{1,3},x", ["team-[0-9]{1,3}", "x"]],
    ["(a|b,c),d", ["(a|b,c)", "d"]],
    ["[,],e", ["[,]", "e"]],
    ["a\\,b,c", ["a\\,b", "c"]],
    ["", [""]],
  ];
  for (const [value, items] of cases) {
    test(JSON.stringify(value), () => assert.deepEqual(splitList(value), items));
  }
});

describe("parseNameList: which names a list matches", () => {
  const cases: { list: string; matches: string[]; rejects: string[]; empty?: boolean }[] = [
    { list: "feature-a", matches: ["feature-a"], rejects: ["feature-ab", "x-feature-a"] },
    { list: "feature-.*", matches: ["feature-x", "feature-"], rejects: ["x-feature-a", "feature"] },
    { list: "feature-a|x", matches: ["feature-a", "x"], rejects: ["x-feature-a"] },
    { list: "a, b ,c", matches: ["a", "b", "c"], rejects: ["d", " b "] },
    { list: "team-[0-9]{1,3}", matches: ["team-7", "team-123"], rejects: ["team-1234"] },
    { list: ",,", matches: [], rejects: ["a", ""], empty: true },
    { list: "", matches: [], rejects: ["a"], empty: true },
  ];
  for (const { list, matches, rejects, empty } of cases) {
    test(JSON.stringify(list), () => {
      const m = matcher(list);
      for (const name of matches) assert.ok(m.matches(name), name);
      for (const name of rejects) assert.ok(!m.matches(name), name);
      assert.equal(m.empty, empty === true);
    });
  }
  test("a matcher asked about names in turn, and again, answers each (it keeps the last answer)", () => {
    const m = matcher("feature-.*, qa");
    for (let round = 0; round < 2; round++) {
      for (const [name, expected] of [
        ["feature-x", true],
        ["feature-x", true],
        ["develop", false],
        ["qa", true],
        ["develop", false],
        ["feature-y", true],
      ] as const)
        assert.equal(m.matches(name), expected, name);
    }
  });
});

describe("parseNameList: refused patterns name the item and why", () => {
  const cases: { list: string; why: RegExp }[] = [
    { list: "feature-(", why: /not a valid RE2 pattern/ },
    { list: "(?=x)a", why: /not a valid RE2 pattern/ },
    { list: "a{64}", why: /repeat counts above 63/ },
    { list: "a{1,64}", why: /repeat counts above 63/ },
    { list: "\\pL+", why: /not a valid RE2 pattern/ },
    { list: `a${"b".repeat(MAX_PATTERN_LENGTH)}*`, why: /more than 1024/ },
    { list: "(a?){63}(a){63}(b){63}(c){63}(d){63}", why: /too complex/ },
  ];
  for (const { list, why } of cases) {
    test(JSON.stringify(list.slice(0, 40)), () => {
      const result = parseNameList(`ok,${list}`, FIELD);
      assert.ok(!result.ok, "refused");
      const message = result.errors.map(formatFieldError).join("; ");
      assert.ok(message.startsWith(`${FIELD}: Invalid value: `), message);
      assert.match(message, why);
    });
  }
});
