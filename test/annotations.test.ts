// lib/annotations.ts: the annotation vocabulary (docs/design.md#vocabulary,
// docs/design.md#skip), table-driven.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isMirror, isSource, parseSkipList, parseSourceAnnotations } from "../lib/annotations.ts";
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
