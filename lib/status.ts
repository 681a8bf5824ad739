import {
  Annotation,
  HOSTS_LIMIT,
  Label,
  REQUESTED_REASONS,
  Reason,
  SKIP_REASONS,
  STATUS_ENTRY_LIMIT,
  STATUS_MESSAGE_LIMIT,
  State,
} from "./constants.ts";
import { clip } from "./dns.ts";
import { compareStrings, objectKey } from "./metadata.ts";
import type { Issue, KubeObject, ObjectMap } from "./types.ts";

// What the hook writes on a namespace (docs/design.md, Status and reasons): the state label, the
// hosts annotation and the status annotation, decided from plain data of one sync request. They
// change only when there is something new to tell a person or a pipeline, so a change that only
// creates, updates or deletes mirrors writes nothing to the namespace.
//
// Metacontroller's DecoratorController (its syncParentObject and updateStringMap; docs/design.md,
// How Metacontroller applies them) merges the answer's `labels` and `annotations` into the
// namespace key by key: a value sets the key, `null` deletes it, a key left out is untouched. It
// updates the namespace only when that changed something. So every answer names all three keys,
// with a value or `null`: the namespace converges to what the request implies whatever it held
// before, and `null` for a key that is not there costs nothing.

/** One line of the status as written: fields in this order. */
export interface StatusEntry {
  reason: Issue["reason"];
  /** `Kind/name` of the mirror concerned, or `Namespace/<name>`. */
  object: string;
  /** `namespace/name` of the source, when there is one. */
  source?: string;
  message: string;
}

/** What needs a person in one namespace. Only issues: mirrors are not counted. */
export interface NamespaceStatus {
  skipped: StatusEntry[];
  invalid: StatusEntry[];
  /** Issues beyond STATUS_ENTRY_LIMIT, not listed. */
  omitted: number;
}

/** The labels and annotations of a sync answer. */
export interface NamespaceMetadata {
  labels: Record<string, string | null>;
  annotations: Record<string, string | null>;
}

/** What decides a namespace's labels and annotations, as plain data from one sync. */
export interface NamespaceFacts {
  /** Every attachment the answer asks for. */
  desired: readonly KubeObject[];
  /**
   * Our attachments as Metacontroller observed them: the request's `attachments`, plus objects of
   * `related` that pass its child test and are not listed there yet (docs/design.md, Conflicts).
   * Asked for only when the state depends on it (a namespace's first state): building it looks up
   * every desired object.
   */
  observed(): ObjectMap;
  /** Everything reported for the namespace, in any order. */
  issues: readonly Issue[];
  /** The status built from `issues` (buildStatus). */
  status: NamespaceStatus;
  /** Hosts the desired route mirrors serve, in any order, repeats allowed. */
  hosts: readonly string[];
  /** The namespace's labels in the request. */
  labels: Readonly<Record<string, string>> | undefined;
}

function compareEntries(a: StatusEntry, b: StatusEntry): number {
  return (
    compareStrings(a.object, b.object) ||
    compareStrings(a.source ?? "", b.source ?? "") ||
    compareStrings(a.reason, b.reason) ||
    compareStrings(a.message, b.message)
  );
}

/** An issue as a status line: the message cut to one short line, fields in a fixed order. */
function statusEntry(issue: Issue): StatusEntry {
  const object = `${issue.kind}/${issue.name}`;
  const message = clip(issue.message, STATUS_MESSAGE_LIMIT);
  return issue.source === undefined
    ? { reason: issue.reason, object, message }
    : {
        reason: issue.reason,
        object,
        source: `${issue.source.namespace}/${issue.source.name}`,
        message,
      };
}

/** Sorted, deduplicated status lines. */
export function normaliseIssues(issues: readonly Issue[]): StatusEntry[] {
  const seen = new Set<string>();
  const out: StatusEntry[] = [];
  for (const issue of issues) {
    const entry = statusEntry(issue);
    const key = JSON.stringify(entry);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(entry);
    }
  }
  return out.sort(compareEntries);
}

export function buildStatus(issues: readonly Issue[]): NamespaceStatus {
  const all = normaliseIssues(issues);
  const kept = all.slice(0, STATUS_ENTRY_LIMIT);
  return {
    skipped: kept.filter((i) => SKIP_REASONS.has(i.reason)),
    invalid: kept.filter((i) => !SKIP_REASONS.has(i.reason)),
    omitted: all.length - kept.length,
  };
}

/** True when the status lists something, so a person has something to look at. */
export function reportsAnything(status: NamespaceStatus): boolean {
  return status.skipped.length > 0 || status.invalid.length > 0 || status.omitted > 0;
}

/**
 * The status annotation's value: compact JSON with `skipped` and `invalid`, and `omitted` only
 * when entries were cut; `null` (delete) when there is nothing to say.
 */
export function statusAnnotation(status: NamespaceStatus): string | null {
  if (!reportsAnything(status)) return null;
  const { skipped, invalid, omitted } = status;
  return JSON.stringify(omitted > 0 ? { skipped, invalid, omitted } : { skipped, invalid });
}

/**
 * The hosts annotation's value: distinct hosts in code-unit order, comma-separated (a host never
 * holds a comma), at most HOSTS_LIMIT; `null` (delete) when there are none.
 */
export function hostsAnnotation(hosts: readonly string[]): string | null {
  const sorted = [...new Set(hosts)].filter((h) => h !== "").sort(compareStrings);
  return sorted.length === 0 ? null : sorted.slice(0, HOSTS_LIMIT).join(",");
}

/** True when Metacontroller observed an attachment of every desired kind, namespace and name. */
export function allObserved(desired: readonly KubeObject[], observed: ObjectMap): boolean {
  const present = new Set(
    Object.values(observed).flatMap((group) => Object.values(group).map(objectKey)),
  );
  return desired.every((d) => present.has(objectKey(d)));
}

/** True when something reported needs a person: any reason the namespace did not ask for. */
export function hasProblems(issues: readonly Issue[]): boolean {
  return issues.some((i) => !REQUESTED_REASONS.has(i.reason));
}

/**
 * True for an issue the engine reports in every eligible namespace: a source whose annotations are
 * invalid, since whom it targets is unknown (docs/design.md, Non-intrusion and fail-static).
 */
function reportedEverywhere(issue: Issue): boolean {
  return issue.reason === Reason.InvalidAnnotation && issue.source !== undefined;
}

/**
 * The state label's value. `Degraded` while a problem is reported. Once the namespace has a
 * state, it is `Synced` whenever nothing is: later source changes do not touch the namespace, and
 * the label never goes back to absent. The first state of a namespace with no problem is `Synced`,
 * once every mirror it should have has been observed in place; until then `null`, so nothing is
 * written (a namespace that should have no mirror never gets a state). An invalid source alone
 * gives no first state to a namespace that should have no mirror: it is reported in every
 * namespace, and labelling them all would write every namespace of the cluster and later show
 * untargeted branches as `Synced`.
 */
export function namespaceState(facts: NamespaceFacts): State | null {
  const current = facts.labels?.[Label.state];
  const hasState = current === State.Synced || current === State.Degraded;
  const unrelated = !hasState && facts.desired.length === 0;
  const problems = unrelated ? facts.issues.filter((i) => !reportedEverywhere(i)) : facts.issues;
  if (hasProblems(problems)) return State.Degraded;
  if (hasState) return State.Synced;
  const inPlace = facts.desired.length > 0 && allObserved(facts.desired, facts.observed());
  return inPlace ? State.Synced : null;
}

/**
 * The answer's labels and annotations for an eligible namespace. The status is there whenever it
 * lists something. The hosts are written with the state: none while it is absent, so a new
 * namespace with nothing to report gets one write, the label and the hosts together, once its
 * mirrors are in place.
 */
export function namespaceMetadata(facts: NamespaceFacts): NamespaceMetadata {
  const state = namespaceState(facts);
  return {
    labels: { [Label.state]: state },
    annotations: {
      [Annotation.hosts]: state === null ? null : hostsAnnotation(facts.hosts),
      [Annotation.status]: statusAnnotation(facts.status),
    },
  };
}

/** For a namespace that never gets mirrors: removes whatever the hook wrote before, if anything. */
export function ineligibleNamespaceMetadata(): NamespaceMetadata {
  return {
    labels: { [Label.state]: null },
    annotations: { [Annotation.hosts]: null, [Annotation.status]: null },
  };
}
