// lib/unread-fields.ts: the fields of a hook request the engine never reads, left out before the
// body is parsed (docs/design.md#reading-a-request). Table-driven cases for each place, then
// properties: for any JSON, split anywhere, the filtered body parses to the body without exactly
// those fields.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { LAST_APPLIED, UnreadFieldFilter } from "../lib/unread-fields.ts";
import { service, syncRequest } from "./support/builders.ts";

/** The body through the filter, written in chunks of `chunkSize` bytes. */
function filtered(text: string, chunkSize = Number.POSITIVE_INFINITY): string {
  const body = Buffer.from(text);
  const filter = new UnreadFieldFilter(body.length);
  const step = Math.min(chunkSize, body.length) || 1;
  for (let at = 0; at < body.length; at += step) filter.write(body.subarray(at, at + step));
  return filter.finish().bytes.toString("utf8");
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const isObject = (value: unknown): value is Record<string, Json> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The oracle: what the filter leaves out, said on parsed objects. */
function withoutUnreadFields(body: Json): Json {
  const copy = JSON.parse(JSON.stringify(body)) as Json;
  const strip = (object: Json | undefined) => {
    if (!isObject(object)) return;
    delete object.status;
    const metadata = object.metadata;
    if (!isObject(metadata)) return;
    delete metadata.managedFields;
    if (isObject(metadata.annotations)) delete metadata.annotations[LAST_APPLIED];
  };
  if (!isObject(copy)) return copy;
  strip(copy.object);
  strip(copy.parent);
  for (const field of ["attachments", "children", "related"]) {
    const map = copy[field];
    if (!isObject(map)) continue;
    for (const group of Object.values(map)) {
      if (isObject(group)) for (const object of Object.values(group)) strip(object);
    }
  }
  return copy;
}

const MANAGED_FIELDS = [
  {
    manager: "kubectl",
    operation: "Update",
    fieldsV1: { "f:spec": { 'k:{"port":80,"protocol":"TCP"}': { ".": {} } } },
  },
];

describe("what is left out, where", () => {
  const object = (extra: Record<string, Json>) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "api",
      namespace: "develop",
      annotations: { [LAST_APPLIED]: '{"kind":"Service"}\n', keep: "yes" },
      managedFields: MANAGED_FIELDS,
    },
    spec: { ports: [{ port: 80 }] },
    status: { loadBalancer: {} },
    ...extra,
  });
  /** `kept` is left out where the whole body is kept. */
  const cases: { name: string; body: Json; kept?: Json }[] = [
    {
      name: "an object of related: status, managedFields and last-applied",
      body: { related: { "Service.v1": { "develop/api": object({}) } } },
      kept: {
        related: {
          "Service.v1": {
            "develop/api": {
              apiVersion: "v1",
              kind: "Service",
              metadata: { name: "api", namespace: "develop", annotations: { keep: "yes" } },
              spec: { ports: [{ port: 80 }] },
            },
          },
        },
      },
    },
    {
      name: "the parent (object and parent)",
      body: { object: object({}), parent: { metadata: { managedFields: [] }, status: 1 } },
      kept: {
        object: {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "api", namespace: "develop", annotations: { keep: "yes" } },
          spec: { ports: [{ port: 80 }] },
        },
        parent: { metadata: {} },
      },
    },
    {
      name: "the same names in a spec are kept",
      body: {
        related: {
          "Middleware.v1alpha1.traefik.io": {
            "develop/m": {
              spec: {
                status: "on",
                metadata: { managedFields: [1] },
                plugin: { managedFields: [2], annotations: { [LAST_APPLIED]: "x" } },
              },
            },
          },
        },
      },
    },
    {
      name: "the controller and other top-level fields are kept",
      body: { controller: { status: {}, metadata: { managedFields: [] } }, finalizing: false },
    },
    {
      name: "a key that only contains the name, or escapes it, is kept",
      body: {
        related: {
          g: {
            "ns/a": { 'x"status': 1, "statu\\u0073": 2, metadata: { "managedFields ": 3 } },
          },
        },
      },
    },
    {
      name: "objects in arrays are not request objects",
      body: { related: [{ status: 1 }], object: [{ status: 2 }] },
    },
    {
      name: "scalars, strings with brackets and escapes, and the only field of an object",
      body: {
        related: {
          g: {
            "ns/a": { status: 'a "quoted" } ] { [ \\ string' },
            "ns/b": { status: -1.5e3, metadata: { managedFields: null } },
            "ns/c": { metadata: { annotations: { [LAST_APPLIED]: "\\\\" } }, status: true },
          },
        },
      },
      kept: {
        related: {
          g: { "ns/a": {}, "ns/b": { metadata: {} }, "ns/c": { metadata: { annotations: {} } } },
        },
      },
    },
  ];
  for (const { name, body, kept = body } of cases) {
    test(name, () => {
      const text = JSON.stringify(body);
      assert.deepEqual(JSON.parse(filtered(text)), kept);
      assert.deepEqual(withoutUnreadFields(body), kept, "the oracle agrees");
    });
  }

  test("a request from the shared builders keeps everything the engine reads", () => {
    const api = service("api");
    api.metadata.managedFields = MANAGED_FIELDS;
    const request = syncRequest({ related: [api] });
    const text = JSON.stringify(request);
    assert.deepEqual(JSON.parse(filtered(text)), withoutUnreadFields(request as Json));
  });

  test("whitespace anywhere, and a left-out field before and after others", () => {
    const text =
      '{ "related" : { "g" : { "ns/a" : { "a" : 1 , "status" : { "x" : [ 1 , 2 ] } , "b" : 2 } ,' +
      ' "ns/b" : { "a" : 1 , "status" : "s" } , "ns/c" : { "status" : null , "b" : 2 } } } }';
    assert.deepEqual(JSON.parse(filtered(text)), {
      related: { g: { "ns/a": { a: 1, b: 2 }, "ns/b": { a: 1 }, "ns/c": { b: 2 } } },
    });
  });

  test("non-ASCII text is kept byte for byte", () => {
    const body = {
      related: { g: { "ns/ü": { metadata: { name: "ü🚀", managedFields: ["é"] } } } },
    };
    assert.deepEqual(JSON.parse(filtered(JSON.stringify(body))), {
      related: { g: { "ns/ü": { metadata: { name: "ü🚀" } } } },
    });
  });
});

describe("bodies that are not JSON still fail to parse, at the right place", () => {
  const offsetOfError = (text: string): number | undefined => {
    const body = Buffer.from(text);
    const filter = new UnreadFieldFilter(body.length);
    filter.write(body);
    const { bytes, offsetInBody } = filter.finish();
    try {
      JSON.parse(bytes.toString("utf8"));
      return undefined;
    } catch (e) {
      const at = /at position (\d+)/.exec((e as Error).message)?.[1];
      return at === undefined ? -1 : offsetInBody(Number(at));
    }
  };
  // Where JSON.parse names no position (an unexpected token), there is nothing to map: -1.
  const cases: [string, string, number][] = [
    ["an error after a left-out field", '{"object":{"status":[1,2,3],"x":1 "y":2}}', 34],
    ["an error before any", '{"object":{"x":1 "y":2,"status":1}}', 17],
    ["no colon after a left-out key", '{"object":{"status" 1}}', 20],
    ["a left-out value that never ends: the end of the body", '{"object":{"status":[1,2', 24],
    ["a comma where the value should be", '{"object":{"status":,"a":1}}', 20],
  ];
  for (const [name, text, at] of cases) {
    test(name, () => {
      assert.throws(() => JSON.parse(text), "the body itself is not JSON");
      assert.equal(offsetOfError(text), at);
    });
  }
});

test("a body that is not JSON stays so: the filter never makes one valid", () => {
  const invalid = [
    '{"object":{,"status":2}}',
    '{"object":{"status":2,}}',
    '{"object":{"status":2 , }}',
    '{"object":{"a":1,"status":2,}}',
    '{"object":{"status":x","a":1}}',
    '{"object":{"status":2,,"a":1}}',
    '{"object":{"status":2,1}}',
  ];
  for (const text of invalid) {
    assert.throws(() => JSON.parse(text), `${text} is not JSON`);
    for (const chunkSize of [1, 3, 1000]) {
      assert.throws(() => JSON.parse(filtered(text, chunkSize)), `${text} stays invalid`);
    }
  }
});

test("an empty chunk changes nothing, even after a backslash that escapes the next chunk's quote", () => {
  // The body is {"object":{"a":"x\"", "status":1}}: a is `x"`, status is left out.
  const parts = ['{"object":{"a":"x\\', "", '"", "status":1}}'];
  const filter = new UnreadFieldFilter();
  for (const part of parts) filter.write(Buffer.from(part));
  assert.deepEqual(JSON.parse(filter.finish().bytes.toString()), { object: { a: 'x"' } });
});

// ---------------------------------------------------------------------------------------------
// Properties.

const KEYS = [
  "status",
  "metadata",
  "managedFields",
  "annotations",
  LAST_APPLIED,
  "spec",
  "name",
  'a"b',
  "\\",
  "ü",
];
const keyArb = fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 4 }));
const { tree } = fc.letrec<{ tree: Json }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string({ unit: "binary", maxLength: 8 }),
    ),
    fc.array(tie("tree"), { maxLength: 3 }),
    fc.dictionary(keyArb, tie("tree"), { maxKeys: 4, noNullPrototype: true }),
  ),
}));
/** A Metacontroller-shaped object: the places that matter, often present, with random content. */
const objectArb = fc.record(
  {
    metadata: fc.record(
      {
        name: fc.string(),
        managedFields: tree,
        annotations: fc.dictionary(fc.constantFrom(LAST_APPLIED, "a", "b"), fc.string()),
      },
      { requiredKeys: [] },
    ),
    status: tree,
    spec: tree,
  },
  { requiredKeys: [] },
);
const requestArb = fc.record(
  {
    object: fc.oneof(objectArb, tree),
    parent: objectArb,
    attachments: fc.dictionary(fc.string(), fc.dictionary(fc.string(), objectArb)),
    related: fc.oneof(fc.dictionary(fc.string(), fc.dictionary(fc.string(), objectArb)), tree),
    controller: tree,
  },
  { requiredKeys: [] },
);

describe("properties", () => {
  test("any request, split into chunks of any size, parses to it without the unread fields", () => {
    fc.assert(
      fc.property(
        requestArb,
        fc.integer({ min: 1, max: 64 }),
        fc.constantFrom(undefined, 1, "\t"),
        (request, chunkSize, indent) => {
          const text = JSON.stringify(request, null, indent);
          const kept = JSON.parse(filtered(text, chunkSize));
          assert.deepEqual(kept, withoutUnreadFields(request as Json));
        },
      ),
      { numRuns: 400 },
    );
  });

  test("any JSON value at all: what is kept is the same whatever the chunk size", () => {
    fc.assert(
      fc.property(tree, fc.integer({ min: 1, max: 16 }), (value, chunkSize) => {
        const text = JSON.stringify(value);
        assert.equal(filtered(text, chunkSize), filtered(text));
        assert.deepEqual(JSON.parse(filtered(text)), withoutUnreadFields(value));
      }),
      { numRuns: 400 },
    );
  });

  test("deep nesting and long runs of escapes are filtered like anything else", () => {
    const deep = `{"related":{"g":{"ns/a":{"status":${"[".repeat(2_000)}${"]".repeat(2_000)}}}}}`;
    const long = `{"object":{"metadata":{"annotations":{"${LAST_APPLIED}":"${"\\\\".repeat(100_000)}"}}}}`;
    for (const text of [deep, long]) {
      assert.deepEqual(JSON.parse(filtered(text, 4096)), withoutUnreadFields(JSON.parse(text)));
    }
  });
});
