// lib/list-merge.ts: which lists Metacontroller's apply merges by key, and the items a mirror
// would lose there (docs/design.md#metacontrollers-apply-and-list-merging), table-driven.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  describeCollision,
  listMergeCollisions,
  listMergeKey,
  withoutCollisions,
} from "../lib/list-merge.ts";

describe("listMergeKey: the first known key every item has", () => {
  const cases: [string, unknown[], string | undefined][] = [
    [
      "ports by port",
      [
        { name: "http", port: 80 },
        { name: "grpc", port: 90 },
      ],
      "port",
    ],
    [
      "port before name, only when every item has it",
      [{ name: "a", port: 1 }, { name: "b" }],
      "name",
    ],
    ["containerPort first", [{ containerPort: 1, port: 2, name: "a" }], "containerPort"],
    ["path", [{ path: "/" }, { path: "/a", type: "x" }], "path"],
    ["no known key: replaced whole", [{ host: "a" }, { host: "b" }], undefined],
    ["items that are not objects", [{ name: "a" }, "b"], undefined],
    ["an empty list", [], undefined],
    ["a null key still counts", [{ name: null }, { name: "a" }], "name"],
  ];
  for (const [name, items, key] of cases) test(name, () => assert.equal(listMergeKey(items), key));
});

describe("listMergeCollisions: walked as the merge walks", () => {
  test("a repeat in a merged list, with its list, key and indexes", () => {
    const spec = {
      parentRefs: [
        { name: "gw", namespace: "a" },
        { name: "gw", namespace: "b" },
      ],
    };
    const [collision, ...rest] = listMergeCollisions(spec, "spec");
    assert.deepEqual(collision, {
      list: "spec.parentRefs",
      key: "name",
      value: "gw",
      first: 0,
      repeat: 1,
    });
    assert.equal(rest.length, 0);
    assert.match(
      describeCollision(collision as never),
      /^spec\.parentRefs\[1\] is not copied: it has the same name \("gw"\) as spec\.parentRefs\[0\]/,
    );
  });

  test("inside the items of a merged list, and inside objects", () => {
    const spec = {
      rules: [
        {
          name: "a",
          backendRefs: [
            { name: "x", port: 80 },
            { name: "y", port: 80 },
          ],
        },
      ],
      nested: { list: [{ ip: "1" }, { ip: "1" }] },
    };
    assert.deepEqual(
      listMergeCollisions(spec, "spec").map((c) => `${c.list}[${c.repeat}]`),
      ["spec.rules[0].backendRefs[1]", "spec.nested.list[1]"],
    );
  });

  test("not inside a list that is replaced whole", () => {
    const spec = {
      rules: [
        {
          backendRefs: [
            { name: "x", port: 80 },
            { name: "y", port: 80 },
          ],
        },
      ],
    };
    assert.deepEqual(listMergeCollisions(spec, "spec"), []);
  });

  test("key values compare as Go prints them (fmt %v)", () => {
    const collide = (a: unknown, b: unknown) =>
      listMergeCollisions([{ path: a }, { path: b }], "matches").length === 1;
    assert.ok(collide(80, 80));
    assert.ok(collide(80, "80"));
    assert.ok(
      collide({ type: "Exact", value: "/" }, { value: "/", type: "Exact" }),
      "map keys sorted",
    );
    assert.ok(collide(1e6, "1e+06"));
    assert.ok(collide(null, "<nil>"));
    assert.ok(!collide(null, "null"));
    assert.ok(!collide(1e6, "1000000"));
    assert.ok(!collide([1, 2], [2, 1]));
  });

  test("a tenant's deep or long key values cost linear time and are never taken for another", () => {
    let deep: unknown = "x";
    for (let i = 0; i < 5000; i++) deep = [{ name: deep }];
    assert.deepEqual(listMergeCollisions({ plugin: deep }, "spec"), []);
    const long = "y".repeat(10_000);
    assert.deepEqual(listMergeCollisions([{ name: long }, { name: long }], "list"), []);
    assert.deepEqual(withoutCollisions([{ name: long }, { name: long }]), [
      { name: long },
      { name: long },
    ]);
  });
});

test("withoutCollisions keeps the first item of each key, everywhere the merge goes", () => {
  const spec = {
    parentRefs: [{ name: "gw", namespace: "a" }, { name: "other" }, { name: "gw", namespace: "b" }],
    replaced: [{ host: "a" }, { host: "a" }],
  };
  assert.deepEqual(withoutCollisions(spec), {
    parentRefs: [{ name: "gw", namespace: "a" }, { name: "other" }],
    replaced: [{ host: "a" }, { host: "a" }],
  });
  assert.deepEqual(listMergeCollisions(withoutCollisions(spec), "spec"), []);
});
