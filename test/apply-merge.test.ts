// Every mirror must survive Metacontroller's default apply unchanged. Its dynamic apply
// (pkg/dynamic/apply/apply.go) three-way merges the observed object, the last applied answer and
// the new answer, and merges lists of objects by a guessed key (`port`, `name`, `path`, ...)
// without checking that the key is unique: two ports numbered 53 collapse into one, and the update
// fails on every sync. This test reimplements that merge (same key order, same list handling) and
// checks, for every mirror a fixture expects, that applying it over itself changes nothing.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfig } from "../lib/config.ts";
import { computeSync } from "../lib/engine.ts";
import { parseSyncRequest } from "../lib/request.ts";

type Json = unknown;
const KNOWN_MERGE_KEYS = ["containerPort", "port", "mountPath", "name", "uid", "ip", "path"];

const isObject = (v: Json): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function detectListMapKey(...lists: Json[][]): string {
  let common: Set<string> | undefined;
  for (const list of lists) {
    for (const item of list) {
      if (!isObject(item)) return "";
      const keys = Object.keys(item);
      common =
        common === undefined ? new Set(keys) : new Set([...common].filter((k) => keys.includes(k)));
    }
  }
  return KNOWN_MERGE_KEYS.find((k) => common?.has(k)) ?? "";
}

// Go's fmt %v of a non-string key; only equality matters here, so JSON is a faithful stand-in.
const mergeKey = (v: Json): string => (typeof v === "string" ? v : JSON.stringify(v));

function merge(destination: Json, last: Json, desired: Json): Json {
  if (isObject(destination)) {
    return mergeObject(destination, isObject(last) ? last : {}, isObject(desired) ? desired : {});
  }
  if (Array.isArray(destination)) {
    const lastList = Array.isArray(last) ? last : [];
    const desList = Array.isArray(desired) ? desired : [];
    const key = detectListMapKey(destination, lastList, desList);
    return key === "" ? desired : mergeListMap(key, destination, lastList, desList);
  }
  return desired;
}

function mergeObject(
  destination: Record<string, Json>,
  last: Record<string, Json>,
  desired: Record<string, Json>,
): Record<string, Json> {
  for (const key of Object.keys(last)) if (!(key in desired)) delete destination[key];
  for (const [key, value] of Object.entries(desired)) {
    destination[key] = merge(destination[key], last[key], value);
  }
  return destination;
}

function mergeListMap(key: string, destination: Json[], last: Json[], desired: Json[]): Json[] {
  const asMap = (list: Json[]) =>
    Object.fromEntries(list.map((item) => [mergeKey((item as Record<string, Json>)[key]), item]));
  const destMap = asMap(destination);
  mergeObject(destMap, asMap(last), asMap(desired));
  const out: Json[] = [];
  const added = new Set<string>();
  for (const item of destination) {
    const k = mergeKey((item as Record<string, Json>)[key]);
    if (k in destMap) {
      out.push(destMap[k]);
      added.add(k);
    }
  }
  for (const item of desired) {
    const k = mergeKey((item as Record<string, Json>)[key]);
    if (!added.has(k)) {
      out.push(destMap[k]);
      added.add(k);
    }
  }
  return out;
}

/** What Metacontroller would write over `mirror` when the hook answers `mirror` again. */
const reapplied = (mirror: Json): Json =>
  merge(structuredClone(mirror), structuredClone(mirror), structuredClone(mirror));

test("the merge reimplementation reproduces Metacontroller's collapse of duplicate keys", () => {
  const service = {
    spec: {
      ports: [
        { port: 53, protocol: "TCP" },
        { port: 53, protocol: "UDP" },
      ],
    },
  };
  assert.notDeepEqual(reapplied(service), service, "two ports numbered 53 collapse");
  const distinct = { spec: { ports: [{ port: 53 }, { port: 9153 }] } };
  assert.deepEqual(reapplied(distinct), distinct);
});

const FIXTURES = join(import.meta.dirname, "fixtures", "sync");
const files = readdirSync(FIXTURES).filter((f) => f.endsWith(".json"));

test("every mirror the fixtures produce survives Metacontroller's apply unchanged", () => {
  let checked = 0;
  const broken: string[] = [];
  for (const file of files) {
    const fixture = JSON.parse(readFileSync(join(FIXTURES, file), "utf8")) as {
      config?: unknown;
      podNamespace?: string;
      request: unknown;
      expect: { error?: string };
    };
    if (fixture.expect.error !== undefined) continue;
    const config = parseConfig(
      fixture.config ?? { sourceNamespaces: ["develop"] },
      fixture.podNamespace,
    );
    const { response } = computeSync(parseSyncRequest(fixture.request, config), config);
    for (const mirror of response.attachments) {
      checked++;
      if (JSON.stringify(reapplied(mirror)) !== JSON.stringify(mirror)) {
        broken.push(`${file}: ${mirror.kind}/${mirror.metadata.name}`);
      }
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked > 100, `checked ${checked} mirrors`);
});

test("a route mirror whose backends move between the branch and the baseline is rewritten exactly", () => {
  // Fixtures where the observed mirror differs from the answer in where its backends go; the
  // three-way merge must add and remove `namespace` on the merged-by-name list items.
  const changing = [
    "httproute-backend-branch-deletes-own-service-returns-to-baseline.json",
    "traefik-backend-branch-deletes-own-service-returns-to-baseline.json",
  ];
  for (const file of changing) {
    const fixture = JSON.parse(readFileSync(join(FIXTURES, file), "utf8")) as {
      config?: unknown;
      request: { attachments: Record<string, Record<string, { kind: string; spec: Json }>> };
    };
    const config = parseConfig(fixture.config ?? { sourceNamespaces: ["develop"] });
    const { response } = computeSync(parseSyncRequest(fixture.request, config), config);
    const observedRoutes = Object.values(fixture.request.attachments)
      .flatMap((group) => Object.values(group))
      .filter((o) => o.kind === "HTTPRoute" || o.kind === "IngressRoute");
    assert.equal(observedRoutes.length, 1, file);
    const observed = observedRoutes[0]?.spec;
    const desired = response.attachments.find((a) => a.kind === observedRoutes[0]?.kind)?.spec;
    assert.notDeepEqual(observed, desired, `${file}: the backends move`);
    // Both ways: back to the baseline, and (swapping roles) over to the branch.
    for (const [from, to] of [
      [observed, desired],
      [desired, observed],
    ]) {
      const written = merge(structuredClone(from), structuredClone(from), structuredClone(to));
      assert.deepEqual(written, to, file);
    }
  }
});
