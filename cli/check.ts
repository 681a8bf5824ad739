import { isMirror, parseSkipList, parseSourceAnnotations } from "../lib/annotations.ts";
import { type Config, ConfigError, parseConfig } from "../lib/config.ts";
import { Annotation, NAMESPACE_OUTPUT_KEYS, PREFIX, TARGETING_KEYS } from "../lib/constants.ts";
import { type FieldError, formatFieldError } from "../lib/errors.ts";
import { KINDS, splitApiVersion } from "../lib/kinds/index.ts";
import type { KubeObject } from "../lib/types.ts";
import { type FieldPath, InputError, type Manifest, readConfigFile } from "./manifests.ts";

// `check`: every kube-external-sync.io/ annotation in manifests, validated by the hook's own
// parsers, and the configuration file. One line per problem, `file:line: Kind ns/name: field:
// message`, so editors and CI annotate the right line.

export interface Problem {
  file: string;
  /** 1-based; undefined when the file could not be read or parsed at all. */
  line: number | undefined;
  /** `Kind ns/name`, or `configuration` for the config file. */
  subject: string;
  message: string;
  /** Warnings are printed but do not fail the check. */
  warning: boolean;
}

export function formatProblem(p: Problem): string {
  const at = p.line === undefined ? p.file : `${p.file}:${p.line}`;
  return `${at}: ${p.warning ? "warning: " : ""}${p.subject}: ${p.message}`;
}

/** Keys the hook writes on namespaces and mirrors: never user input, never a problem. */
const WRITTEN_BY_HOOK: ReadonlySet<string> = new Set([
  ...NAMESPACE_OUTPUT_KEYS,
  Annotation.replicatedFrom,
]);
const KIND_NAMES = [...new Set(KINDS.map((k) => k.kind))];

function subjectOf(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return `${object.kind} ${namespace === undefined ? name : `${namespace}/${name}`}`;
}

/** The annotation key a FieldError's path names (`metadata.annotations[<key>]`). */
function annotationKey(error: FieldError): string | undefined {
  return /^metadata\.annotations\[(.+)\]$/.exec(error.field)?.[1];
}

/** A warning line: the value is not invalid, it has no effect. */
function formatWarning(w: FieldError): string {
  return `${w.field}: ${JSON.stringify(w.value)}: ${w.detail}`;
}

function isMirroredKind(object: KubeObject): boolean {
  const { group } = splitApiVersion(object.apiVersion);
  return KINDS.some((k) => k.group === group && k.kind === object.kind && k.role === "source");
}

/** A problem at one annotation key of the manifest. */
type ProblemAt = (key: string, message: string, warning: boolean) => Problem;

/** A Namespace's annotations: only the skip list is ours to read. */
function namespaceProblems(
  annotations: Record<string, string>,
  ours: readonly string[],
  problem: ProblemAt,
): Problem[] {
  const problems: Problem[] = [];
  for (const key of ours) {
    if (key === Annotation.skip) {
      const { errors } = parseSkipList(annotations[key], KIND_NAMES);
      for (const e of errors) problems.push(problem(key, formatFieldError(e), false));
    } else {
      const field = `metadata.annotations[${key}]`;
      problems.push(
        problem(
          key,
          `${field}: unknown annotation on a Namespace (only ${Annotation.skip}); ignored`,
          true,
        ),
      );
    }
  }
  return problems;
}

/** A source's annotations parsed as the hook parses them, plus whether they can take effect. */
function sourceProblems(
  object: KubeObject,
  annotations: Record<string, string>,
  ours: readonly string[],
  problem: ProblemAt,
): Problem[] {
  const first = ours[0] ?? "";
  const parsed = parseSourceAnnotations(annotations);
  const problems: Problem[] = parsed.warnings.map((w) =>
    problem(annotationKey(w) ?? first, formatWarning(w), true),
  );
  for (const e of parsed.ok ? [] : parsed.errors) {
    problems.push(problem(annotationKey(e) ?? first, formatFieldError(e), false));
  }
  const targets = TARGETING_KEYS.some((k) => annotations[k] !== undefined);
  if (!targets) {
    problems.push(
      problem(
        first,
        `metadata.annotations: no ${TARGETING_KEYS.map((k) => k.slice(PREFIX.length)).join(", ")}: not a source, its ${PREFIX} annotations have no effect`,
        true,
      ),
    );
  } else if (!isMirroredKind(object)) {
    problems.push(
      problem(
        first,
        `kind: kube-external-sync does not mirror ${object.apiVersion} ${object.kind} (it mirrors ${KIND_NAMES.filter((k) => k !== "ReferenceGrant").join(", ")}); ignored`,
        true,
      ),
    );
  }
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/** The problems of one object's annotations. */
export function checkManifest(manifest: Manifest): Problem[] {
  const { object, file } = manifest;
  const annotations = object.metadata.annotations ?? {};
  const ours = Object.keys(annotations).filter(
    (k) => k.startsWith(PREFIX) && !WRITTEN_BY_HOOK.has(k),
  );
  // Objects without our annotations, and mirrors (the hook wrote theirs), have nothing to check.
  if (ours.length === 0 || isMirror(object)) return [];
  const subject = subjectOf(object);
  const problem: ProblemAt = (key, message, warning) => ({
    file,
    line: manifest.lineOf(["metadata", "annotations", key]),
    subject,
    message,
    warning,
  });
  return object.apiVersion === "v1" && object.kind === "Namespace"
    ? namespaceProblems(annotations, ours, problem)
    : sourceProblems(object, annotations, ours, problem);
}

/** `excludeNamespaces.1` or `sourceNamespaces` (a ConfigError line's field) as a path. */
function configPath(field: string): FieldPath {
  if (field === "(document)") return [];
  return field.split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/**
 * The configuration file, validated as the server validates it at start. Returns the Config, or
 * the problems with their lines (one per field the server's message names).
 */
export function checkConfig(file: string): { config?: Config; problems: Problem[] } {
  const { doc, lineOf } = readConfigFile(file);
  const at = (line: number, message: string): Problem => ({
    file,
    line,
    subject: "configuration",
    message,
    warning: false,
  });
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return { problems: [at(1, "the document must be a mapping of configuration fields")] };
  }
  try {
    return { config: parseConfig(doc), problems: [] };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // ConfigError lists one `field: message` per line after its first.
    const lines = e.message
      .split("\n")
      .slice(1)
      .map((l) => l.trim())
      .filter((l) => l !== "");
    return {
      problems: lines.map((l) => {
        // `(document): unknown field(s) a, b` is best shown at the first unknown field.
        const unknown = /^\(document\): unknown field\(s\) ([^,]+)/.exec(l)?.[1];
        const field = unknown ?? l.slice(0, Math.max(0, l.indexOf(":")));
        return at(lineOf(configPath(field)), l);
      }),
    };
  }
}

/** Re-throws anything but an InputError; an InputError becomes a problem of its file. */
export function inputProblem(e: unknown): Problem {
  if (!(e instanceof InputError)) throw e;
  return { file: e.file, line: e.line, subject: "input", message: e.detail, warning: false };
}
