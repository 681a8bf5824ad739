import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import {
  constructFromEvents,
  EVENT_ID,
  type Event,
  getScalarValue,
  parseEvents,
  YAMLException,
} from "js-yaml";
import { isRecord } from "../lib/kinds/shapes.ts";
import type { KubeObject } from "../lib/types.ts";

// Reading manifests as `kubectl apply -f` does: files, directories (their .yaml, .yml and .json
// files, not recursively) and `-` for stdin; multi-document YAML, JSON, and `kind: List` (or any
// `*List` with `items`) flattened into its items. Every object remembers where it came from, down
// to the line of each field, so problems can be reported as `file:line`.

/** A problem with the input itself (unreadable, malformed, not an object): reported, exit 1. */
export class InputError extends Error {
  override name = "InputError";
  readonly file: string;
  /** 1-based; undefined when the file could not be read at all. */
  readonly line: number | undefined;
  readonly detail: string;
  constructor(file: string, line: number | undefined, detail: string) {
    super(`${file}${line === undefined ? "" : `:${line}`}: ${detail}`);
    this.file = file;
    this.line = line;
    this.detail = detail;
  }
}

export type FieldPath = readonly (string | number)[];

/** One object of the input, with where it and its fields are. */
export interface Manifest {
  /** As given on the command line (`-` reads as `<stdin>`), joined with the directory entry. */
  file: string;
  /** 1-based line of the object. */
  line: number;
  object: KubeObject;
  /** 1-based line of a field of the object (its key), or of its nearest enclosing field. */
  lineOf(field: FieldPath): number;
}

export const STDIN = "-";
const MANIFEST_EXTENSIONS = [".yaml", ".yml", ".json"];

/** A parsed YAML text: its documents, and the offset of every field, keyed by its path. */
export interface ParsedText {
  documents: unknown[];
  /** Per document: path (JSON-encoded) to source offset. */
  offsets: Map<string, number>[];
  lineAt(offset: number): number;
}

function pathKey(field: FieldPath): string {
  return JSON.stringify(field);
}

/** 1-based line numbers of offsets in `text`, by binary search over the line starts. */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return (offset) => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) low = mid;
      else high = mid - 1;
    }
    return low + 1;
  };
}

interface Frame {
  path: FieldPath;
  mapping: boolean;
  /** Mappings: the key just read, waiting for its value. */
  key: string | undefined;
  /** Sequences: the index of the next item. */
  index: number;
}

/** The earliest offset of a scalar event that is set (its anchor or tag precede its value). */
function scalarStart(event: Extract<Event, { type: typeof EVENT_ID.SCALAR }>): number {
  const set = [event.anchorStart, event.tagStart, event.valueStart].filter((o) => o >= 0);
  return set.length > 0 ? Math.min(...set) : 0;
}

/** Records the offset of every mapping key and sequence item, event by event, per document. */
class OffsetRecorder {
  readonly offsets: Map<string, number>[] = [];
  private current = new Map<string, number>();
  private readonly stack: Frame[] = [];
  private readonly text: string;
  constructor(text: string) {
    this.text = text;
  }

  record(event: Event): void {
    switch (event.type) {
      case EVENT_ID.DOCUMENT:
        this.current = new Map();
        this.offsets.push(this.current);
        this.stack.length = 0;
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE:
        this.collection(event.start, event.type === EVENT_ID.MAPPING);
        break;
      case EVENT_ID.SCALAR:
        this.scalar(event);
        break;
      case EVENT_ID.ALIAS:
        this.alias(event.anchorStart);
        break;
      case EVENT_ID.POP:
        // Closes a collection, or the document when the stack is already empty.
        this.stack.pop();
        break;
    }
  }

  /** The mapping waiting for a key, if the next node is one. */
  private awaitingKey(): Frame | undefined {
    const top = this.stack.at(-1);
    return top?.mapping && top.key === undefined ? top : undefined;
  }

  private collection(start: number, mapping: boolean): void {
    // A collection used as a mapping key (`? [a, b]: c`) has no field name; treat it as "?".
    const keyed = this.awaitingKey();
    if (keyed !== undefined) keyed.key = "?";
    const field = this.place(start);
    this.stack.push({ path: field, mapping, key: undefined, index: 0 });
  }

  private scalar(event: Extract<Event, { type: typeof EVENT_ID.SCALAR }>): void {
    const keyed = this.awaitingKey();
    if (keyed === undefined) {
      this.place(scalarStart(event));
      return;
    }
    keyed.key = getScalarValue(this.text, event);
    this.current.set(pathKey([...keyed.path, keyed.key]), scalarStart(event));
  }

  private alias(anchorStart: number): void {
    const keyed = this.awaitingKey();
    if (keyed !== undefined) keyed.key = "*";
    else this.place(anchorStart);
  }

  /** Where the next node goes: its path, and records its offset unless its key already did. */
  private place(offset: number): FieldPath {
    const parent = this.stack.at(-1);
    if (parent === undefined) {
      this.current.set(pathKey([]), offset);
      return [];
    }
    if (parent.mapping) {
      const field = [...parent.path, parent.key ?? ""];
      parent.key = undefined;
      return field;
    }
    const field = [...parent.path, parent.index];
    parent.index += 1;
    this.current.set(pathKey(field), offset);
    return field;
  }
}

/**
 * Parses YAML (JSON is YAML) with js-yaml's event stream, recording where each mapping key and
 * sequence item starts, then builds the documents from the same events.
 */
export function parseYaml(text: string, file: string): ParsedText {
  const lineAt = lineIndex(text);
  let events: Event[];
  let documents: unknown[];
  try {
    events = parseEvents(text, { filename: file });
    documents = constructFromEvents(events, { source: text, filename: file });
  } catch (e) {
    if (e instanceof YAMLException && e.mark) {
      throw new InputError(file, e.mark.line + 1, `malformed YAML: ${e.reason}`);
    }
    throw new InputError(file, undefined, `malformed YAML: ${e instanceof Error ? e.message : e}`);
  }
  const recorder = new OffsetRecorder(text);
  for (const event of events) recorder.record(event);
  return { documents, offsets: recorder.offsets, lineAt };
}

type ObjectProblem = { field: FieldPath; message: string };

/** labels or annotations: absent, or a map of strings. */
function whyNotStringMap(field: "labels" | "annotations", map: unknown): ObjectProblem | undefined {
  if (map === undefined || map === null) return undefined;
  if (!isRecord(map))
    return { field: ["metadata", field], message: `metadata.${field}: must be a map` };
  for (const [key, v] of Object.entries(map)) {
    if (typeof v !== "string") {
      return {
        field: ["metadata", field, key],
        message: `metadata.${field}[${key}]: Invalid value: ${JSON.stringify(v)}: must be a string (quote it)`,
      };
    }
  }
  return undefined;
}

/** metadata with a name, and what the hook reads of it well-typed. */
function whyNotMetadata(metadata: Record<string, unknown>): ObjectProblem | undefined {
  const { name, namespace, labels, annotations } = metadata;
  if (typeof name !== "string" || name === "")
    return { field: ["metadata", "name"], message: "metadata.name: Required value" };
  if (namespace !== undefined && typeof namespace !== "string")
    return { field: ["metadata", "namespace"], message: "metadata.namespace: must be a string" };
  return whyNotStringMap("labels", labels) ?? whyNotStringMap("annotations", annotations);
}

/** A mapping with apiVersion, kind and metadata.name, as the API server requires. */
function whyNotObject(value: unknown): ObjectProblem | undefined {
  const problem = (field: FieldPath, message: string) => ({ field, message });
  if (!isRecord(value)) {
    return problem([], "expected a Kubernetes object (a mapping), got a scalar or a list");
  }
  if (typeof value.apiVersion !== "string" || value.apiVersion === "")
    return problem(["apiVersion"], "apiVersion: Required value");
  if (typeof value.kind !== "string" || value.kind === "")
    return problem(["kind"], "kind: Required value");
  if (!isRecord(value.metadata)) return problem(["metadata"], "metadata: Required value");
  return whyNotMetadata(value.metadata);
}

/** A list kind (`List`, `ServiceList`, ...) with `items`: kubectl applies the items. */
function isList(value: unknown): value is { items: unknown[] } {
  return (
    isRecord(value) &&
    typeof value.kind === "string" &&
    value.kind.endsWith("List") &&
    Array.isArray(value.items)
  );
}

/** The objects of one parsed text, Lists flattened; throws InputError for anything else. */
export function manifestsOf(text: string, file: string): Manifest[] {
  const parsed = parseYaml(text, file);
  const out: Manifest[] = [];
  parsed.documents.forEach((doc, d) => {
    const offsets = parsed.offsets[d] ?? new Map<string, number>();
    const lineOf = (field: FieldPath): number => {
      for (let n = field.length; n >= 0; n--) {
        const offset = offsets.get(pathKey(field.slice(0, n)));
        if (offset !== undefined) return parsed.lineAt(offset);
      }
      return 1;
    };
    // Empty documents (a trailing `---`, comments only) are skipped, as kubectl does.
    if (doc === null || doc === undefined) return;
    const items: { value: unknown; at: FieldPath }[] = isList(doc)
      ? doc.items.map((value, i) => ({ value, at: ["items", i] }))
      : [{ value: doc, at: [] }];
    for (const { value, at } of items) {
      const why = whyNotObject(value);
      if (why !== undefined) {
        throw new InputError(file, lineOf([...at, ...why.field]), why.message);
      }
      const object = value as KubeObject;
      out.push({
        file,
        line: lineOf(at),
        object,
        lineOf: (field) => lineOf([...at, ...field]),
      });
    }
  });
  return out;
}

/** Reads a file, or stdin for `-`; InputError naming the file when it cannot. */
function readText(file: string, stdin: () => string): string {
  try {
    return file === STDIN ? stdin() : readFileSync(file, "utf8");
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new InputError(file === STDIN ? "<stdin>" : file, undefined, `cannot read: ${reason}`);
  }
}

/** The files a `-f` argument names: itself, or a directory's manifest files in name order. */
export function expandPath(arg: string): string[] {
  if (arg === STDIN) return [arg];
  let isDirectory: boolean;
  try {
    isDirectory = statSync(arg).isDirectory();
  } catch (e) {
    throw new InputError(arg, undefined, `cannot read: ${e instanceof Error ? e.message : e}`);
  }
  if (!isDirectory) return [arg];
  return readdirSync(arg)
    .filter((name) => MANIFEST_EXTENSIONS.includes(path.extname(name)))
    .sort()
    .map((name) => path.join(arg, name));
}

/** The objects of one file, or of stdin for `-`. */
export function manifestsOfFile(file: string, stdin: () => string): Manifest[] {
  return manifestsOf(readText(file, stdin), file === STDIN ? "<stdin>" : file);
}

/** Every object in the files `-f` names, in order. */
export function readManifests(args: readonly string[], stdin: () => string): Manifest[] {
  return args.flatMap(expandPath).flatMap((file) => manifestsOfFile(file, stdin));
}

/** A YAML configuration file, parsed with field positions (an empty file is all defaults). */
export function readConfigFile(file: string): { doc: unknown; lineOf(field: FieldPath): number } {
  const text = readText(file, () => "");
  const parsed = parseYaml(text, file);
  if (parsed.documents.length > 1) {
    throw new InputError(
      file,
      undefined,
      `expected one YAML document, found ${parsed.documents.length}`,
    );
  }
  const offsets = parsed.offsets[0] ?? new Map<string, number>();
  return {
    doc: parsed.documents[0] ?? {},
    lineOf: (field) => {
      for (let n = field.length; n >= 0; n--) {
        const offset = offsets.get(pathKey(field.slice(0, n)));
        if (offset !== undefined) return parsed.lineAt(offset);
      }
      return 1;
    },
  };
}
