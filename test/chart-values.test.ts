// The Helm chart's values, without Helm (test/cluster/chart.test.ts renders and dry-runs it): the
// schema, values.yaml and the values reference in the chart's README.md agree, and the `config`
// values are the package's configuration file, one to one.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { load } from "js-yaml";
import { parseConfig } from "../lib/config.ts";

const ROOT = resolve(import.meta.dirname, "..");
const CHART = join(ROOT, "charts", "kube-external-sync");

interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
}

const schema = JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8")) as SchemaNode;
const values = load(readFileSync(join(CHART, "values.yaml"), "utf8")) as Record<string, unknown>;
const readme = readFileSync(join(CHART, "README.md"), "utf8");

/** Dotted paths of the schema's leaves: properties without properties of their own. */
function leaves(node: SchemaNode, prefix = ""): string[] {
  return Object.entries(node.properties ?? {}).flatMap(([key, child]) =>
    child.properties ? leaves(child, `${prefix}${key}.`) : [`${prefix}${key}`],
  );
}

function valueAt(path: string): unknown {
  return path
    .split(".")
    .reduce<unknown>(
      (v, key) =>
        v !== null && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined,
      values,
    );
}

test("every value in the schema has a row in the chart's README and a default in values.yaml", () => {
  const documented = new Set([...readme.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] ?? ""));
  const paths = leaves(schema);
  assert.ok(paths.length > 30, `${paths.length} values`);
  for (const path of paths) {
    assert.ok(documented.has(path), `${path} is documented in charts/kube-external-sync/README.md`);
    if (path !== "global") assert.notEqual(valueAt(path), undefined, `${path} is in values.yaml`);
  }
  for (const path of documented) assert.ok(paths.includes(path), `${path} is in the schema`);
});

test("every key of values.yaml is in the schema, which rejects unknown keys at every level", () => {
  function walk(value: unknown, node: SchemaNode, path: string): void {
    if (node.properties === undefined) return;
    assert.equal(node.additionalProperties, false, `${path || "(top)"} rejects unknown keys`);
    assert.ok(value !== null && typeof value === "object", path);
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const sub = node.properties[key];
      assert.ok(sub, `${path}${key} is in values.schema.json`);
      walk(child, sub, `${path}${key}.`);
    }
  }
  walk(values, schema, "");
});

test("config: the package's configuration file, one to one, accepted by the server", () => {
  const pkg = load(readFileSync(join(ROOT, "metacontroller", "config.yaml"), "utf8"));
  assert.deepEqual(values.config, pkg);
  assert.deepEqual(
    Object.keys(schema.properties?.config?.properties ?? {}).sort(),
    Object.keys(pkg as object).sort(),
  );
  assert.ok(parseConfig(values.config, "kube-external-sync"));
});
