// lib/annotations.ts: the annotation vocabulary (docs/design.md#vocabulary,
// docs/design.md#skip), table-driven.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  isMirror,
  isSource,
  ParsedCache,
  parseSkipList,
  parseSourceAnnotations,
} from "../lib/annotations.ts";
import { formatFieldError } from "../lib/errors.ts";
import { PREFIX, service } from "./support/builders.ts";

const prefixed = (annotations: Record<string, string>) =>
  Object.fromEntries(Object.entries(annotations).map(([k, v]) => [PREFIX + k, v]));

describe("isSource and isMirror", () => {
  const cases: {
    why: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    source: boolean;
    mirror: boolean;
  }[] = [
    {
      why: "replicate-to",
      annotations: { [`${PREFIX}replicate-to`]: "x" },
      source: true,
      mirror: false,
    },
    {
      why: "replicate-to-matching",
      annotations: { [`${PREFIX}replicate-to-matching`]: "a=b" },
      source: true,
      mirror: false,
    },
    {
      why: "replicate-to-annotated",
      annotations: { [`${PREFIX}replicate-to-annotated`]: "a=b" },
      source: true,
      mirror: false,
    },
    {
      why: "other keys only",
      annotations: { [`${PREFIX}strip-labels`]: "true" },
      source: false,
      mirror: false,
    },
    { why: "no annotations", source: false, mirror: false },
    {
      why: "labelled managed-by kube-external-sync",
      labels: { "app.kubernetes.io/managed-by": "kube-external-sync" },
      annotations: { [`${PREFIX}replicate-to`]: "x" },
      source: false,
      mirror: true,
    },
    {
      why: "annotated by Metacontroller's decorator",
      annotations: {
        [`${PREFIX}replicate-to`]: "x",
        "metacontroller.k8s.io/decorator-controller": "kube-external-sync",
      },
      source: false,
      mirror: true,
    },
  ];
  for (const { why, labels, annotations, source, mirror } of cases) {
    test(why, () => {
      const object = service("api", {
        ...(labels ? { labels } : {}),
        ...(annotations ? { annotations } : {}),
      });
      assert.equal(isSource(object), source);
      assert.equal(isMirror(object), mirror);
    });
  }
});

describe("parseSourceAnnotations: valid values", () => {
  test("every optional key read, strip lists parsed", () => {
    const parsed = parseSourceAnnotations(
      prefixed({
        "replicate-to": "feature-.*",
        "external-name-suffix": "svc.example.internal",
        "top-level-domain": "*.example.com",
        "tld-secret-name": "wildcard-tls",
        "strip-labels": "true",
        "strip-annotations": "a, example.com/b",
      }),
    );
    assert.ok(parsed.ok);
    assert.equal(parsed.spec.externalNameSuffix, "svc.example.internal");
    assert.equal(parsed.spec.topLevelDomain, "example.com");
    assert.equal(parsed.spec.tldSecretName, "wildcard-tls");
    assert.deepEqual(parsed.spec.stripLabels, { all: true, keys: new Set() });
    assert.deepEqual(parsed.spec.stripAnnotations, {
      all: false,
      keys: new Set(["a", "example.com/b"]),
    });
    assert.deepEqual(parsed.warnings, []);
  });
  const stripCases: [string, boolean, string[]][] = [
    ["true", true, []],
    ["TRUE", true, []],
    ["false", false, []],
    ["", false, []],
    [" a ,, b ", false, ["a", "b"]],
  ];
  for (const [value, all, keys] of stripCases) {
    test(`strip-labels ${JSON.stringify(value)}`, () => {
      const parsed = parseSourceAnnotations(
        prefixed({ "replicate-to": "x", "strip-labels": value }),
      );
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.spec.stripLabels, { all, keys: new Set(keys) });
    });
  }
});

describe("parseSourceAnnotations: every bad value is an error naming its field", () => {
  const cases: [string, string, RegExp][] = [
    ["replicate-to", "feature-(", /not a valid RE2 pattern/],
    ["exclude-namespaces", "a{99}", /repeat counts above 63/],
    ["replicate-to-matching", "", /must not be empty/],
    ["replicate-to-annotated", "a b", /expected/],
    ["external-name-suffix", "Not_DNS", /must be a DNS subdomain/],
    ["tld-secret-name", "-bad", /must be a DNS subdomain/],
    ["strip-labels", "not a key", /must be "true" or a comma list/],
    ["strip-annotations", "a,-b", /must be "true" or a comma list/],
  ];
  for (const [key, value, why] of cases) {
    test(`${key}: ${JSON.stringify(value)}`, () => {
      const parsed = parseSourceAnnotations(prefixed({ "replicate-to": "x", [key]: value }));
      assert.ok(!parsed.ok);
      const message = parsed.errors.map(formatFieldError).join("; ");
      assert.ok(
        message.startsWith(`metadata.annotations[${PREFIX}${key}]: Invalid value: `),
        message,
      );
      assert.match(message, why);
    });
  }
});

describe("parseSourceAnnotations: keys without effect are warnings, not errors", () => {
  const cases: [string, RegExp][] = [
    ["replicate-too", /unknown annotation; ignored/],
    ["keep-owner-references", /not supported/],
  ];
  for (const [key, why] of cases) {
    test(key, () => {
      const parsed = parseSourceAnnotations(prefixed({ "replicate-to": "x", [key]: "true" }));
      assert.ok(parsed.ok);
      const [warning, ...more] = parsed.warnings;
      assert.ok(warning !== undefined && more.length === 0, "one warning");
      assert.match(formatFieldError(warning), why);
    });
  }
  test("keys outside kube-external-sync.io/ are not read", () => {
    const parsed = parseSourceAnnotations({ ...prefixed({ "replicate-to": "x" }), other: "y" });
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.warnings, []);
  });
});

describe("parseSkipList", () => {
  const kinds = ["Service", "Ingress", "IngressRoute"];
  const cases: {
    value: string | undefined;
    skips: [string, string][];
    keeps: [string, string][];
    errors?: RegExp;
  }[] = [
    { value: undefined, skips: [], keeps: [["Service", "api"]] },
    {
      value: "*",
      skips: [
        ["Service", "api"],
        ["Ingress", "web"],
      ],
      keeps: [],
    },
    {
      value: "api",
      skips: [
        ["Service", "api"],
        ["Ingress", "api"],
      ],
      keeps: [["Service", "web"]],
    },
    { value: "service/api", skips: [["Service", "api"]], keeps: [["Ingress", "api"]] },
    { value: "IngressRoute/web", skips: [["IngressRoute", "web"]], keeps: [["Ingress", "web"]] },
    {
      value: "Deployment/api, api",
      skips: [["Service", "api"]],
      keeps: [],
      errors: /unknown kind "Deployment"; known: Service, Ingress, IngressRoute/,
    },
    {
      value: "Bad_Name",
      skips: [],
      keeps: [["Service", "Bad_Name"]],
      errors: /must be \*, a name/,
    },
  ];
  for (const { value, skips, keeps, errors } of cases) {
    test(JSON.stringify(value), () => {
      const { skip, errors: found } = parseSkipList(value, kinds);
      for (const [kind, name] of skips) assert.ok(skip.skips(kind, name), `${kind}/${name}`);
      for (const [kind, name] of keeps) assert.ok(!skip.skips(kind, name), `${kind}/${name}`);
      if (errors === undefined) assert.deepEqual(found, []);
      else assert.match(found.map(formatFieldError).join("; "), errors);
    });
  }
});

describe("the parsed-annotations cache", () => {
  const KEY = `${PREFIX}replicate-to`;
  const to = (value: string) => ({ [KEY]: value });
  const OURS = [KEY];
  const parsedOf = (value: string) => parseSourceAnnotations(to(value));

  test("finds a result by our keys and values; another value is a miss", () => {
    const cache = new ParsedCache();
    cache.set(to("a"), OURS, parsedOf("a"));
    assert.equal(cache.get(to("a"), OURS), parsedOf("a"));
    assert.equal(cache.get(to("b"), OURS), undefined);
    assert.equal(cache.get({}, []), undefined, "no keys is its own entry");
  });

  test("when full in entries, it starts again with the new entry", () => {
    const cache = new ParsedCache({ maxEntries: 3, maxChars: 1_000_000 });
    for (const value of ["a", "b", "c"]) cache.set(to(value), OURS, parsedOf(value));
    assert.equal(cache.size.entries, 3);
    cache.set(to("d"), OURS, parsedOf("d"));
    assert.equal(cache.size.entries, 1);
    assert.equal(cache.get(to("a"), OURS), undefined);
    assert.equal(cache.get(to("d"), OURS), parsedOf("d"));
  });

  test("when full in characters, it starts again; a value longer than the bound is not kept", () => {
    const entryChars = ParsedCache.NODE_CHARS + KEY.length + 100;
    const cache = new ParsedCache({ maxEntries: 100, maxChars: 2 * entryChars });
    const long = (c: string) => c.repeat(100);
    cache.set(to(long("a")), OURS, parsedOf(long("a")));
    cache.set(to(long("b")), OURS, parsedOf(long("b")));
    assert.deepEqual(cache.size, { entries: 2, chars: 2 * entryChars });
    cache.set(to(long("c")), OURS, parsedOf(long("c")));
    assert.deepEqual(cache.size, { entries: 1, chars: entryChars });
    const huge = long("x").repeat(10);
    cache.set(to(huge), OURS, parsedOf(huge));
    assert.equal(cache.get(to(huge), OURS), undefined);
    assert.deepEqual(cache.size, { entries: 1, chars: entryChars }, "nothing dropped for it");
  });

  test("parsing the same keys and values again, in any order, gives the cached result", () => {
    const annotations = { ...to("feature-.*"), [`${PREFIX}host-template`]: "{{.Namespace}}" };
    const reordered = Object.fromEntries(Object.entries(annotations).reverse());
    const first = parseSourceAnnotations(annotations);
    assert.equal(parseSourceAnnotations(reordered), first);
    assert.equal(parseSourceAnnotations({ ...annotations, unrelated: "x" }), first);
  });
});
