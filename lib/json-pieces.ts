import { isRecord } from "./kinds/shapes.ts";

// An answer serialised piece by piece: the same text as JSON.stringify(value), but an answer of
// thousands of mirrors is never one string (docs/design.md#reading-a-request). The top-level
// object's arrays are written item by item; everything else is JSON.stringify's.

/** Pieces are joined up to about this many characters before they are handed out. */
export const PIECE_CHARS = 64 * 1024;

/** What JSON.stringify writes for an array item: a value it cannot write is null. */
function itemText(item: unknown): string {
  return JSON.stringify(item) ?? "null";
}

/** The pieces of the top level, small and large alike, in order. */
function* rawPieces(value: unknown): Generator<string> {
  if (!isRecord(value)) {
    yield JSON.stringify(value) ?? "null";
    return;
  }
  let separator = "{";
  for (const key of Object.keys(value)) {
    const field = value[key];
    const text = Array.isArray(field) ? undefined : JSON.stringify(field);
    // JSON.stringify leaves out fields it cannot write (undefined, functions).
    if (!Array.isArray(field) && text === undefined) continue;
    yield `${separator}${JSON.stringify(key)}:`;
    separator = ",";
    if (text !== undefined) {
      yield text;
      continue;
    }
    yield* arrayPieces(field as unknown[]);
  }
  yield separator === "{" ? "{}" : "}";
}

function* arrayPieces(items: readonly unknown[]): Generator<string> {
  yield "[";
  for (let i = 0; i < items.length; i++) yield `${i === 0 ? "" : ","}${itemText(items[i])}`;
  yield "]";
}

/** JSON.stringify(value), in pieces of about PIECE_CHARS (a single item may be longer). */
export function* jsonPieces(value: unknown, pieceChars = PIECE_CHARS): Generator<string> {
  let pending = "";
  for (const piece of rawPieces(value)) {
    pending += piece;
    if (pending.length >= pieceChars) {
      yield pending;
      pending = "";
    }
  }
  if (pending !== "") yield pending;
}
