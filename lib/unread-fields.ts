// The fields of a hook request the engine never reads, left out before the body is parsed
// (docs/design.md, Reading a request). Most of a request's bytes are in them: the API server's
// managedFields, kubectl's last-applied-configuration annotation and the status of every object.
// Parsed, they would be most of a request's memory, so the body is filtered as its bytes arrive
// and JSON.parse sees the rest (scanning costs about what it saves in parsing; README,
// Development, has the figures). Only these are left out, only at these places, found by following
// the JSON structure (never by searching for text, which a tenant's object could contain):
//
//   <object>.status                                  <object>: request.object or request.parent,
//   <object>.metadata.managedFields                  or any object in a group of
//   <object>.metadata.annotations[LAST_APPLIED]      request.attachments, .children or .related
//
// Everything else is kept byte for byte (a left-out member takes one comma with it), so JSON.parse
// checks it as before, and a body that is not JSON stays so. What is left out is only checked for
// balanced brackets, strings and scalar characters.

/** kubectl's copy of the applied manifest: never copied to a mirror, never read. */
export const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** What a key names, where that matters; every other key is Other. */
const Key = {
  Other: 0,
  /** The container is an array item, not named by a key. */
  Item: 1,
  /** A top-level field holding object maps: attachments, children, related. */
  ObjectMap: 2,
  /** A top-level field holding one object: object, parent. */
  Parent: 3,
  Metadata: 4,
  Annotations: 5,
  /** A field to leave out. */
  Unread: 6,
} as const;
type Key = (typeof Key)[keyof typeof Key];

const bytesOf = (text: string) => Buffer.from(text, "latin1");
const ROOT_KEYS = new Map<string, Key>([
  ["attachments", Key.ObjectMap],
  ["children", Key.ObjectMap],
  ["related", Key.ObjectMap],
  ["object", Key.Parent],
  ["parent", Key.Parent],
]);
const OBJECT_KEYS = new Map<string, Key>([
  ["metadata", Key.Metadata],
  ["status", Key.Unread],
]);
const METADATA_KEYS = new Map<string, Key>([
  ["annotations", Key.Annotations],
  ["managedFields", Key.Unread],
]);
const ANNOTATION_KEYS = new Map<string, Key>([[LAST_APPLIED, Key.Unread]]);

/** Keys of one level as bytes, with their lengths, for comparing a key in place. */
function keyTable(keys: Map<string, Key>): { bytes: Buffer; key: Key }[] {
  return [...keys].map(([name, key]) => ({ bytes: bytesOf(name), key }));
}
const TABLES = {
  root: keyTable(ROOT_KEYS),
  object: keyTable(OBJECT_KEYS),
  metadata: keyTable(METADATA_KEYS),
  annotations: keyTable(ANNOTATION_KEYS),
};

/** Where a left-out value stands, between its key and its end. */
const Skip = {
  /** Not skipping. */
  None: 0,
  BeforeColon: 1,
  BeforeValue: 2,
  InContainer: 3,
  InString: 4,
  InScalar: 5,
  AfterValue: 6,
} as const;
type Skip = (typeof Skip)[keyof typeof Skip];

const isSpace = (byte: number) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
const endsScalar = (byte: number) =>
  byte === COMMA || byte === CLOSE_OBJECT || byte === CLOSE_ARRAY || isSpace(byte);
/** Bytes of true, false, null and numbers. */
const inScalar = (byte: number) =>
  (byte >= 0x61 && byte <= 0x7a) ||
  (byte >= 0x30 && byte <= 0x39) ||
  byte === 0x2b ||
  byte === 0x2d ||
  byte === 0x2e ||
  byte === 0x45;

/** The size of the buffer for kept bytes when the body's length is not declared; it doubles. */
const FIRST_BUFFER = 64 * 1024;

function sameBytes(expected: Uint8Array, bytes: Uint8Array, from: number): boolean {
  for (let i = 0; i < expected.length; i++) if (bytes[from + i] !== expected[i]) return false;
  return true;
}

/** Copies `from`..`to` of `source` into `target` at `at`; a Buffer copies without a view. */
function copyBytes(source: Uint8Array, from: number, to: number, target: Buffer, at: number) {
  if (Buffer.isBuffer(source)) source.copy(target, at, from, to);
  else target.set(source.subarray(from, to), at);
}

/** The body as kept, and how to find a position of it in the body as sent. */
export interface FilteredBody {
  bytes: Buffer;
  /** The offset in the body as sent of `offset` in `bytes`. */
  offsetInBody(offset: number): number;
}

/**
 * Filters one JSON body, written chunk by chunk as it arrives. Linear in the body's length, with
 * state for one key and one container level per nesting level.
 */
export class UnreadFieldFilter {
  private out: Buffer;
  /** Bytes of `out` written. */
  private length = 0;
  /** Bytes of the body seen, across chunks. */
  private seen = 0;
  /** Of the current chunk, the first byte not yet copied to `out` (kept bytes are copied in runs). */
  private keepFrom = 0;

  // The JSON structure around the current byte.
  private depth = 0;
  /** Per nesting level (1 = the body itself): 1 when the container is an object. */
  private isObject = new Uint8Array(64);
  /** Per nesting level: what the key that opened the container names. */
  private openedBy = new Uint8Array(64);
  /** The level of the object whose unread fields are being looked for; 0 when outside one. */
  private objectLevel = 0;
  private inString = false;
  /** 1 when the chunk ended just after a backslash in a string: the next chunk's first byte is escaped. */
  private carry = 0;
  /** The string being read is a key, starting at this offset of `out`; -1 when it is a value. */
  private keyStart = -1;
  private expectKey = false;
  /** What the last key named, for the container its value may open. */
  private lastKey: Key = Key.Other;

  // A value being left out.
  private skip: Skip = Skip.None;
  private skipDepth = 0;
  private skipInString = false;
  /** Offset of `out` where the left-out key began. */
  private pairStart = 0;
  /** A comma after a left-out first member was dropped: the next member's key must follow. */
  private keyMustFollow = false;

  /** For offsetInBody: after each left-out field, the offset in `out` and bytes left out before. */
  private readonly shifts: { at: number; removed: number }[] = [];

  /**
   * `expectedLength`: the body's declared length, if any. The buffer is reserved at that size but
   * only the kept bytes are written, and only written pages take memory (a large buffer is its own
   * mapping): `npm run bench` measured a lower peak this way than growing it from 1 MB.
   */
  constructor(expectedLength = 0) {
    this.out = Buffer.allocUnsafe(Math.max(expectedLength, FIRST_BUFFER));
  }

  write(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.keepFrom = 0;
    let i = this.carry;
    this.carry = 0;
    const end = chunk.length;
    while (i < end) {
      if (this.skip !== Skip.None) i = this.skipValue(chunk, i, end);
      else if (this.inString) i = this.readString(chunk, i, end);
      else if (this.keyMustFollow) i = this.checkKeyFollows(chunk, i);
      else i = this.readStructure(chunk, i, end);
    }
    // While a value is left out, nothing from keepFrom on is kept.
    if (this.skip === Skip.None) this.flush(chunk, end);
    this.seen += end;
  }

  /** The kept bytes. An unterminated left-out value is cut, so JSON.parse reports the end. */
  finish(): FilteredBody {
    if (this.skip !== Skip.None) {
      this.length = this.pairStart;
      this.shifts.push({ at: this.length, removed: this.seen - this.length });
    }
    const bytes = this.out.subarray(0, this.length);
    const shifts = this.shifts;
    return {
      bytes,
      offsetInBody: (offset) => {
        let removed = 0;
        for (const shift of shifts) {
          if (shift.at > offset) break;
          removed = shift.removed;
        }
        return offset + removed;
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Kept bytes.

  /** Copies the kept run of the chunk before `upTo` to `out`. */
  private flush(chunk: Uint8Array, upTo: number): void {
    const run = upTo - this.keepFrom;
    if (run <= 0) return;
    this.reserve(run);
    copyBytes(chunk, this.keepFrom, upTo, this.out, this.length);
    this.length += run;
    this.keepFrom = upTo;
  }

  private reserve(more: number): void {
    if (this.length + more <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.length + more));
    this.out.copy(grown, 0, 0, this.length);
    this.out = grown;
  }

  /** The offset in `out` that byte `i` of the current chunk has when kept. */
  private outOffset(i: number): number {
    return this.length + (i - this.keepFrom);
  }

  /** Inside a string: up to and past its closing quote, or the chunk's end. */
  private readString(chunk: Uint8Array, start: number, end: number): number {
    const quote = this.closingQuote(chunk, start, end);
    if (quote === end) return end;
    this.inString = false;
    if (this.keyStart >= 0) this.readKey(chunk, quote + 1);
    return quote + 1;
  }

  /**
   * The offset of the quote that ends the string `start` is in, or `end` when the chunk ends
   * first (noting an escape that spans chunks). The loop every byte of a string goes through.
   */
  private closingQuote(chunk: Uint8Array, start: number, end: number): number {
    let i = start;
    while (i < end) {
      const byte = chunk[i];
      if (byte === QUOTE) return i;
      i += byte === BACKSLASH ? 2 : 1;
    }
    this.carry = i - end;
    return end;
  }

  /**
   * Outside strings, up to the chunk's end or a value to leave out; strings on the way are read
   * in place.
   */
  private readStructure(chunk: Uint8Array, start: number, end: number): number {
    let i = start;
    while (i < end && this.skip === Skip.None) {
      const byte = chunk[i] as number;
      i++;
      if (byte === QUOTE) {
        this.keyStart = this.expectKey ? this.outOffset(i - 1) : -1;
        this.expectKey = false;
        this.inString = true;
        i = this.readString(chunk, i, end);
      } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        this.open(byte === OPEN_OBJECT);
      } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
        this.close();
      } else if (byte === COMMA) {
        this.expectKey = this.isObject[this.depth] === 1;
      }
    }
    return i;
  }

  private open(isObject: boolean): void {
    const parentIsObject = this.isObject[this.depth] === 1;
    this.depth++;
    if (this.depth >= this.isObject.length) this.growLevels();
    this.isObject[this.depth] = isObject ? 1 : 0;
    this.openedBy[this.depth] = parentIsObject ? this.lastKey : Key.Item;
    this.lastKey = Key.Other;
    this.expectKey = isObject;
    if (isObject && this.objectLevel === 0 && this.isRequestObject()) this.objectLevel = this.depth;
  }

  private close(): void {
    if (this.depth === this.objectLevel) this.objectLevel = 0;
    if (this.depth > 0) this.depth--;
    this.expectKey = false;
  }

  private growLevels(): void {
    const grow = (levels: Uint8Array) => {
      const grown = new Uint8Array(levels.length * 2);
      grown.set(levels);
      return grown;
    };
    this.isObject = grow(this.isObject);
    this.openedBy = grow(this.openedBy);
  }

  /** The object just opened is request.object/parent, or an object of a group of an object map. */
  private isRequestObject(): boolean {
    const { depth, openedBy } = this;
    if (depth === 2) return openedBy[2] === Key.Parent;
    return (
      depth === 4 &&
      openedBy[2] === Key.ObjectMap &&
      openedBy[3] !== Key.Item &&
      openedBy[4] !== Key.Item
    );
  }

  // -------------------------------------------------------------------------------------------
  // Keys.

  /** A key just ended before `after`: note what it names, and start leaving out its value. */
  private readKey(chunk: Uint8Array, after: number): void {
    const table = this.keyTableHere();
    this.lastKey = Key.Other;
    if (table === undefined) return;
    const key = this.keyEndingAt(table, chunk, after);
    if (key !== Key.Unread) {
      this.lastKey = key;
      return;
    }
    this.flush(chunk, after);
    this.pairStart = this.keyStart;
    this.skip = Skip.BeforeColon;
  }

  /**
   * What the key ending before `after` names: compared in the chunk when it began there, else in
   * `out`, where it is whole once the chunk's kept bytes are copied.
   */
  private keyEndingAt(
    table: readonly { bytes: Buffer; key: Key }[],
    chunk: Uint8Array,
    after: number,
  ): Key {
    const startInChunk = this.keyStart - this.length + this.keepFrom;
    if (startInChunk >= 0) return this.lookUp(table, chunk, startInChunk + 1, after - 1);
    this.flush(chunk, after);
    return this.lookUp(table, this.out, this.keyStart + 1, this.length - 1);
  }

  /** Which keys matter at the current level, if any. */
  private keyTableHere(): (typeof TABLES)[keyof typeof TABLES] | undefined {
    const { depth, objectLevel, openedBy } = this;
    if (depth === 1) return TABLES.root;
    if (objectLevel === 0 || depth < objectLevel || depth > objectLevel + 2) return undefined;
    if (depth === objectLevel) return TABLES.object;
    if (openedBy[objectLevel + 1] !== Key.Metadata) return undefined;
    if (depth === objectLevel + 1) return TABLES.metadata;
    return openedBy[depth] === Key.Annotations ? TABLES.annotations : undefined;
  }

  /** What the key in `bytes` from `from` to `to` names in `table`. */
  private lookUp(
    table: readonly { bytes: Buffer; key: Key }[],
    bytes: Uint8Array,
    from: number,
    to: number,
  ): Key {
    for (const entry of table) {
      if (entry.bytes.length === to - from && sameBytes(entry.bytes, bytes, from)) return entry.key;
    }
    return Key.Other;
  }

  // -------------------------------------------------------------------------------------------
  // A value left out, with its key and one comma.

  private skipValue(chunk: Uint8Array, start: number, end: number): number {
    switch (this.skip) {
      case Skip.InContainer:
        return this.skipInContainer(chunk, start, end);
      case Skip.InString:
        return this.skipString(chunk, start, end);
      default:
        return this.skipPunctuation(chunk, start);
    }
  }

  /** One byte between the key and the value, of a scalar, or after the value. */
  private skipPunctuation(chunk: Uint8Array, i: number): number {
    const byte = chunk[i] as number;
    switch (this.skip) {
      case Skip.BeforeColon:
        if (isSpace(byte)) return i + 1;
        return byte === COLON ? this.skipTo(Skip.BeforeValue, i + 1) : this.giveUp(i);
      case Skip.BeforeValue:
        return this.startValue(byte, i);
      case Skip.InScalar:
        if (endsScalar(byte)) return this.skipTo(Skip.AfterValue, i);
        return inScalar(byte) ? i + 1 : this.giveUp(i);
      default:
        return this.afterValue(byte, i);
    }
  }

  private skipTo(next: Skip, i: number): number {
    this.skip = next;
    return i;
  }

  private startValue(byte: number, i: number): number {
    if (isSpace(byte)) return i + 1;
    if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      this.skipDepth = 1;
      this.skipInString = false;
      return this.skipTo(Skip.InContainer, i + 1);
    }
    if (byte === QUOTE) return this.skipTo(Skip.InString, i + 1);
    if (byte === COMMA || byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) return this.giveUp(i);
    return this.skipTo(Skip.InScalar, i);
  }

  private skipString(chunk: Uint8Array, start: number, end: number): number {
    const quote = this.closingQuote(chunk, start, end);
    return quote === end ? end : this.skipTo(Skip.AfterValue, quote + 1);
  }

  /** Inside a left-out object or array: up to its end or the chunk's. Its depth is kept local. */
  private skipInContainer(chunk: Uint8Array, start: number, end: number): number {
    let i = start;
    if (this.skipInString) {
      const quote = this.closingQuote(chunk, i, end);
      if (quote === end) return end;
      this.skipInString = false;
      i = quote + 1;
    }
    let depth = this.skipDepth;
    while (i < end) {
      const byte = chunk[i] as number;
      i++;
      if (byte === QUOTE) {
        const quote = this.closingQuote(chunk, i, end);
        this.skipInString = quote === end;
        i = quote === end ? end : quote + 1;
      } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        depth++;
      } else if ((byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) && --depth === 0) {
        this.skipDepth = 0;
        return this.skipTo(Skip.AfterValue, i);
      }
    }
    this.skipDepth = depth;
    return end;
  }

  /**
   * After the value, the member goes with one comma: the one before it, else (a first member) the
   * one after it. Input that is not JSON is left so that JSON.parse still fails on it.
   */
  private afterValue(byte: number, i: number): number {
    if (isSpace(byte)) return this.skipTo(Skip.AfterValue, i + 1);
    const comma = this.commaBefore(this.pairStart);
    if (byte === CLOSE_OBJECT) return this.endSkip(comma ?? this.pairStart, i);
    if (byte !== COMMA) return this.giveUp(i);
    if (comma !== undefined) return this.endSkip(comma, i);
    this.keyMustFollow = true;
    this.expectKey = true;
    return this.endSkip(this.pairStart, i + 1);
  }

  /**
   * The offset of the comma before `offset` in `out` (spaces between), when it separates two
   * members; undefined when there is none, or it follows `{` or another comma (not JSON).
   */
  private commaBefore(offset: number): number | undefined {
    const at = this.lastByteBefore(offset);
    if (at < 0 || this.out[at] !== COMMA) return undefined;
    const before = this.out[this.lastByteBefore(at)];
    return before === OPEN_OBJECT || before === COMMA ? undefined : at;
  }

  /** The offset of the last byte before `offset` in `out` that is not a space; -1 if none. */
  private lastByteBefore(offset: number): number {
    let at = offset - 1;
    while (at >= 0 && isSpace(this.out[at] as number)) at--;
    return at;
  }

  /**
   * After a first member and its comma were left out, the next member's key must come. If
   * anything else does (`{"status":1,}`), the comma is put back, so the body stays invalid.
   */
  private checkKeyFollows(chunk: Uint8Array, i: number): number {
    const byte = chunk[i] as number;
    if (isSpace(byte)) return i + 1;
    this.keyMustFollow = false;
    if (byte === QUOTE) return i;
    this.flush(chunk, i);
    this.reserve(1);
    this.out[this.length++] = COMMA;
    this.expectKey = false;
    return this.resumeAt(i);
  }

  /** Ends leaving out: `out` is cut to `length`, and bytes are kept again from `resume`. */
  private endSkip(length: number, resume: number): number {
    this.length = length;
    this.skip = Skip.None;
    this.lastKey = Key.Other;
    return this.resumeAt(resume);
  }

  /**
   * Not JSON where a value was left out: keep the key and the bytes from here, so JSON.parse
   * fails on them and says where.
   */
  private giveUp(i: number): number {
    this.skip = Skip.None;
    return this.resumeAt(i);
  }

  /** Keeps bytes again from `i` of the chunk, noting how far kept offsets now are from the body's. */
  private resumeAt(i: number): number {
    this.keepFrom = i;
    this.shifts.push({ at: this.length, removed: this.seen + i - this.length });
    return i;
  }
}
