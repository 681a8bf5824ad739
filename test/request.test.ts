// lib/request.ts: objects of a request group by namespace, as every stage of the engine reads
// them, and the check by hand of the object maps against their zod schema (parsing and its
// messages are covered by test/http.test.ts and the fixtures).

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isObjectMapOrAbsent, objectsIn, syncMapsSchema } from "../lib/request.ts";
import type { KubeObject, ObjectsByName } from "../lib/types.ts";

const object = (namespace: string | undefined, name: string): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: namespace === undefined ? { name } : { name, namespace },
});

test("objectsIn: one namespace's objects sorted by name; a cluster-scoped key is in none", () => {
  const group: ObjectsByName = {
    "develop/web": object("develop", "web"),
    "develop-2/api": object("develop-2", "api"),
    "develop/api": object("develop", "api"),
    develop: object(undefined, "develop"),
  };
  const names = (namespace: string) => objectsIn(group, namespace).map((o) => o.metadata.name);
  assert.deepEqual(names("develop"), ["api", "web"]);
  assert.deepEqual(names("develop-2"), ["api"]);
  assert.deepEqual(names("dev"), []);
  assert.deepEqual(names(""), []);
  assert.deepEqual(names("develo"), [], "a key without a slash names no namespace");
  assert.equal(objectsIn(group, "develop"), objectsIn(group, "develop"), "indexed once per group");
});

// The object maps are checked by hand for speed, and only a map that fails goes through zod. The
// engine never rejects, so the hand check must never let through what the schema refuses, nor
// what the schema would change (null labels become absent).
test("the check by hand of object maps accepts only what the schema accepts unchanged", () => {
  // Mostly valid, each field now and then one of its wrong values, so that maps with objects in
  // them are both accepted and refused.
  const field = <T>(valid: T[], wrong: unknown[]) =>
    fc.oneof(
      { arbitrary: fc.constantFrom(...valid), weight: 12 },
      { arbitrary: fc.constantFrom(...wrong), weight: 1 },
    );
  // Objects as JSON.parse makes them.
  const JSON_LIKE = { noNullPrototype: true };
  const stringMap = field([undefined, {}, { a: "b" }], [null, { a: 1 }, { a: null }, [], "a=b"]);
  const metadata = fc.record(
    {
      name: field(["web"], ["", 5, null, undefined]),
      namespace: field([undefined, "develop", ""], [null, 5]),
      labels: stringMap,
      annotations: stringMap,
      uid: fc.constantFrom("u", 1),
    },
    JSON_LIKE,
  );
  const object = fc.record(
    {
      apiVersion: field(["v1", ""], [1, null, undefined]),
      kind: field(["Service"], [1, undefined]),
      metadata: fc.oneof({ arbitrary: metadata, weight: 12 }, fc.constantFrom(null, [], "m")),
      spec: fc.constantFrom({}, null),
    },
    JSON_LIKE,
  );
  const keys = fc.constantFrom("develop/web", "b/c", "x");
  const group = fc.oneof(
    { arbitrary: fc.dictionary(keys, object, JSON_LIKE), weight: 12 },
    fc.constantFrom(null, []),
  );
  const map = fc.oneof(
    {
      arbitrary: fc.dictionary(fc.constantFrom("Service.v1", "Ingress"), group, JSON_LIKE),
      weight: 12,
    },
    fc.constantFrom(undefined, null, [], 1),
  );
  let acceptedWithObjects = 0;
  let refused = 0;
  fc.assert(
    fc.property(map, (value) => {
      if (!isObjectMapOrAbsent(value)) {
        refused++;
        return;
      }
      const groups = value === undefined ? [] : Object.values(value as object);
      if (groups.some((g) => Object.keys(g as object).length > 0)) acceptedWithObjects++;
      const parsed = syncMapsSchema.safeParse({ related: value });
      assert.ok(parsed.success, `the schema refuses what the hand check accepts: ${parsed.error}`);
      assert.deepEqual(
        parsed.data.related,
        value,
        "the schema changes what the hand check accepts",
      );
    }),
    { numRuns: 2000 },
  );
  assert.ok(acceptedWithObjects > 100, `only ${acceptedWithObjects} maps with objects accepted`);
  assert.ok(refused > 200, `only ${refused} maps refused`);
});
