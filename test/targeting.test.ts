// lib/targeting.ts: which namespaces get mirrors, and which sources target them
// (docs/design.md#eligibility, docs/design.md#which-sources-target-n), table-driven.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseSourceAnnotations, type SourceSpec } from "../lib/annotations.ts";
import { parseConfig } from "../lib/config.ts";
import { isEligibleNamespace, isTargetOf } from "../lib/targeting.ts";
import { namespace, PREFIX } from "./support/builders.ts";

describe("isEligibleNamespace", () => {
  const config = parseConfig(
    { sourceNamespaces: ["develop", "staging"], excludeNamespaces: ["kube-.*", "sandbox"] },
    "kube-external-sync",
  );
  const cases: [string, boolean, string][] = [
    ["feature-a", true, "any other namespace"],
    ["develop", false, "a source namespace"],
    ["staging", false, "every source namespace"],
    ["kube-system", false, "matches an excluded pattern"],
    ["sandbox", false, "an excluded name"],
    ["sandbox-2", true, "excluded names are whole names"],
    ["kube-external-sync", false, "the hook's own namespace (POD_NAMESPACE)"],
  ];
  for (const [name, eligible, why] of cases) {
    test(`${name}: ${eligible ? "eligible" : "not eligible"} (${why})`, () => {
      assert.equal(isEligibleNamespace(name, config), eligible);
    });
  }
  test("the default excludes hold without a config file", () => {
    const defaults = parseConfig({});
    for (const name of ["kube-system", "kube-public", "kube-node-lease"])
      assert.equal(isEligibleNamespace(name, defaults), false, name);
  });
});

function specOf(annotations: Record<string, string>): SourceSpec {
  const prefixed = Object.fromEntries(Object.entries(annotations).map(([k, v]) => [PREFIX + k, v]));
  const parsed = parseSourceAnnotations(prefixed);
  assert.ok(parsed.ok, JSON.stringify(annotations));
  return parsed.spec;
}

describe("isTargetOf", () => {
  const featureA = namespace("feature-a", {
    labels: { branch: "true", team: "payments" },
    annotations: { "example.com/owner": "alice" },
  });
  const cases: { annotations: Record<string, string>; target: boolean; why: string }[] = [
    { annotations: { "replicate-to": "feature-a" }, target: true, why: "named" },
    { annotations: { "replicate-to": "feature-.*" }, target: true, why: "pattern" },
    { annotations: { "replicate-to": "feature-b" }, target: false, why: "another name" },
    { annotations: { "replicate-to-matching": "branch=true" }, target: true, why: "labels" },
    { annotations: { "replicate-to-matching": "team=search" }, target: false, why: "labels" },
    {
      annotations: { "replicate-to-annotated": "example.com/owner=alice" },
      target: true,
      why: "annotations",
    },
    {
      annotations: { "replicate-to-annotated": "example.com/owner=bob" },
      target: false,
      why: "annotations",
    },
    {
      annotations: { "replicate-to": "feature-b", "replicate-to-matching": "branch=true" },
      target: true,
      why: "any targeting key is enough",
    },
    {
      annotations: { "replicate-to": ".*", "exclude-namespaces": "feature-a" },
      target: false,
      why: "exclude-namespaces wins",
    },
    {
      annotations: { "replicate-to-matching": "branch", "exclude-namespaces": "feature-.*" },
      target: false,
      why: "exclude-namespaces wins over labels too",
    },
    { annotations: { "replicate-to": ",," }, target: false, why: "an empty list" },
  ];
  for (const { annotations, target, why } of cases) {
    test(`${JSON.stringify(annotations)}: ${target ? "target" : "not a target"} (${why})`, () => {
      assert.equal(isTargetOf(specOf(annotations), featureA), target);
    });
  }
});
