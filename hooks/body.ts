import { isAscii } from "node:buffer";
import type { IncomingMessage } from "node:http";
import type { RequestHandler, Response } from "express";
import { jsonPieces } from "../lib/json-pieces.ts";
import { type FilteredBody, UnreadFieldFilter } from "../lib/unread-fields.ts";
import { markStage } from "./stages.ts";

// Reading a hook request's body and writing its answer (docs/design.md#reading-a-request). The body
// is read bounded, streamed through the filter that leaves out the fields the engine never reads
// (lib/unread-fields.ts), and parsed once. The whole body is never held: each chunk is filtered as
// it arrives and freed, so a request costs the memory of what the engine reads, not of what
// Metacontroller sends.

/** A request the body of which cannot be read: answered with `status` and `message`. */
export class BodyError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** `32mb`, `500kb`, `1.5gb` or a number of bytes (the BODY_LIMIT syntax), in bytes. */
export function sizeInBytes(size: string): number {
  const match = /^(\d+(?:\.\d+)?)\s?(b|kb|mb|gb)?$/i.exec(size.trim());
  if (match === null) throw new Error(`not a size: ${JSON.stringify(size)}`);
  const unit = UNITS[(match[2] ?? "b").toLowerCase()] ?? 1;
  return Math.floor(Number(match[1]) * unit);
}

function tooLarge(size: string, limit: string): BodyError {
  return new BodyError(
    413,
    `request body of ${size} exceeds BODY_LIMIT (${limit}); raise BODY_LIMIT`,
  );
}

/**
 * The answer to a body that is not JSON. The parser's message quotes the body around the error,
 * which may be a Secret's data: say only where, as a byte offset in the body as sent.
 */
function notJson(parserMessage: string, text: string, body: FilteredBody): string {
  const position = /at position (\d+)/.exec(parserMessage)?.[1];
  if (position === undefined) return "request body is not valid JSON";
  const keptOffset = Buffer.byteLength(text.slice(0, Number(position)));
  return `request body is not valid JSON (at byte ${body.offsetInBody(keptOffset)})`;
}

function checkHeaders(req: IncomingMessage, limitBytes: number, limit: string): number {
  const charset = req.headers["content-type"]?.match(/;\s*charset=("?)([^";]+)\1/i)?.[2];
  if (charset !== undefined && !/^utf-?8$/i.test(charset))
    throw new BodyError(415, `unsupported charset ${JSON.stringify(charset)}: send UTF-8 JSON`);
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
  if (encoding !== "identity")
    throw new BodyError(415, `unsupported Content-Encoding ${JSON.stringify(encoding)}`);
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > limitBytes) throw tooLarge(`${declared} bytes`, limit);
  return Number.isFinite(declared) ? declared : 0;
}

/**
 * Frees a piece of the body once it is filtered. Node's HTTP parser hands each piece over as its
 * own copy (Buffer::Copy in its on_body), which stays allocated until the next garbage collection;
 * filtering allocates almost nothing that would start one, so a large body held all its pieces at
 * once (README, Development: the 5,000-source peak). Only a piece that owns its whole buffer is
 * freed, never part of a pool, and only by the last reader of the piece. Exported for its test.
 */
export function releasePiece(piece: Buffer): void {
  const { buffer } = piece;
  if (
    buffer instanceof ArrayBuffer &&
    piece.byteOffset === 0 &&
    piece.byteLength === buffer.byteLength
  )
    buffer.transfer(0);
}

/** The kept bytes as text: one pass over ASCII (what Metacontroller sends), else UTF-8. */
function textOf(bytes: Buffer): string {
  return isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8");
}

function parseFiltered(filter: UnreadFieldFilter): object {
  const kept = filter.finish();
  const text = textOf(kept.bytes);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new BodyError(400, notJson((e as Error).message, text, kept));
  }
  // Like express.json in strict mode, only an object or an array is accepted.
  if (typeof body !== "object" || body === null)
    throw new BodyError(400, "request body is not valid JSON: expected an object");
  return body;
}

/** Reads, filters and parses the body into `req.body`; errors go to the error middleware. */
export function jsonBody(limit: string): RequestHandler {
  const limitBytes = sizeInBytes(limit);
  return (req, res, next) => {
    let filter: UnreadFieldFilter;
    try {
      filter = new UnreadFieldFilter(checkHeaders(req, limitBytes, limit));
    } catch (e) {
      next(e);
      return;
    }
    let received = 0;
    const stopListening = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    // Past the limit the rest is read and dropped, and the connection closed after the answer: a
    // paused request would leave the connection stuck once the client sent more than a buffer.
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limitBytes) {
        filter.write(chunk);
        // A listener after this one would get the piece freed.
        if (req.listeners("data").at(-1) === onData) releasePiece(chunk);
        return;
      }
      stopListening();
      res.setHeader("Connection", "close");
      req.resume();
      next(tooLarge(`more than ${limitBytes} bytes`, limit));
    };
    const onError = () => {
      stopListening();
      next(new BodyError(400, "request aborted before its body was read"));
    };
    const onEnd = () => {
      stopListening();
      markStage(res, "body");
      try {
        req.body = parseFiltered(filter);
      } catch (e) {
        next(e);
        return;
      }
      markStage(res, "parse");
      next();
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  };
}

/**
 * Answers 200 with `value` as JSON. An answer that fits one piece is sent with its length; a
 * larger one (thousands of mirrors) is written piece by piece as the connection takes it, so it is
 * never held whole, as one string or as bytes (res.json holds both).
 */
export function sendJson(res: Response, value: unknown): void {
  res.status(200);
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  const pieces = jsonPieces(value);
  const first = pieces.next();
  const second = first.done ? first : pieces.next();
  if (second.done) {
    const text = first.done ? "" : first.value;
    res.setHeader("Content-Length", Buffer.byteLength(text));
    res.end(text);
    return;
  }
  res.write(first.value);
  let piece: IteratorResult<string> = second;
  const writeUntilFull = () => {
    for (; !piece.done; piece = pieces.next()) {
      // The client is gone: nothing more to build or write.
      if (res.destroyed) return;
      if (!res.write(piece.value)) {
        piece = pieces.next();
        res.once("drain", writeUntilFull);
        return;
      }
    }
    res.end();
  };
  writeUntilFull();
}
