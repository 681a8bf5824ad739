// lib/request.ts: objects of a request group by namespace, as every stage of the engine reads
// them (parsing and its messages are covered by test/http.test.ts and the fixtures).

import assert from "node:assert/strict";
import { test } from "node:test";
import { objectsIn } from "../lib/request.ts";
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
