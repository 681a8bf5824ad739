// lib/json-pieces.ts: an answer written in pieces is JSON.stringify's text, whatever the value and
// wherever the pieces are cut.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { jsonPieces } from "../lib/json-pieces.ts";

const joined = (value: unknown, pieceChars?: number) => [...jsonPieces(value, pieceChars)].join("");

test("rows: arrays of the top level item by item, what JSON.stringify leaves out left out", () => {
  const rows: unknown[] = [
    {},
    [],
    null,
    "text",
    { attachments: [] },
    { labels: { a: null }, attachments: [{ kind: "Service" }, 1, "x"], resyncAfterSeconds: 0 },
    { skipped: undefined, list: [undefined, () => 1], fn: () => 1 },
    { only: undefined },
  ];
  for (const value of rows) assert.equal(joined(value, 1), JSON.stringify(value));
});

test("pieces are about the size asked for, and no piece is empty", () => {
  const value = { attachments: Array.from({ length: 100 }, (_, i) => ({ name: `mirror-${i}` })) };
  const pieces = [...jsonPieces(value, 200)];
  assert.ok(pieces.length > 5);
  for (const piece of pieces.slice(0, -1)) assert.ok(piece.length >= 200 && piece.length < 260);
  assert.ok(pieces.every((piece) => piece.length > 0));
});

test("any JSON value or object of values and arrays, cut anywhere, is JSON.stringify's text", () => {
  const topLevel = fc.dictionary(fc.string(), fc.oneof(fc.array(fc.jsonValue()), fc.jsonValue()));
  fc.assert(
    fc.property(
      fc.oneof(fc.jsonValue(), topLevel),
      fc.integer({ min: 1, max: 64 }),
      (value, size) => {
        assert.equal(joined(value, size), JSON.stringify(value));
      },
    ),
    { numRuns: 2000 },
  );
});
