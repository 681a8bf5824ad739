import {
  Annotation,
  HOSTS_LIMIT,
  Label,
  SKIP_REASONS,
  STATUS_ENTRY_LIMIT,
  STATUS_MESSAGE_LIMIT,
  State,
} from "./constants.ts";
import { clip } from "./dns.ts";
import { compareStrings } from "./metadata.ts";
import type { Issue, KubeObject, ObjectMap } from "./types.ts";

// What the hook writes on a namespace (docs/design.md, Status and reasons): the state label, the
// hosts annotation and the status annotation. Each is a pure function of the request, and changes
// only when there is something new to tell a person or a pipeline; a change that only creates,
// updates or deletes mirrors writes nothing to the namespace.
//
// Metacontroller merges the answer's `labels` and `annotations` into the namespace key by key
// (`null` deletes a key, keys left out are untouched) and updates the namespace only when that
// changes something. So every answer names all three keys, with a value or `null`: the namespace
// then converges to a function of the request, and `null` for a key that is not there costs
// nothing.

/** What needs a person in one namespace. Only issues: mirrors are not counted. */
export interface NamespaceStatus {
  skipped: Issue[];
  invalid: Issue[];
  /** Issues beyond STATUS_ENTRY_LIMIT, not listed. */
  omitted: number;
  /**
   * Never set: mirrors are no longer counted in the status (metrics count them). Declared only
   * so the cluster suites that still read it compile; remove with those reads.
   */
  mirrors?: never;
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
  /** Our attachments as Metacontroller observed them (the request's `attachments`). */
  observed: ObjectMap;
  status: NamespaceStatus;
  /** Hosts the desired route mirrors serve, in any order, repeats allowed. */
  hosts: readonly string[];
  /** The namespace's labels in the request. */
  labels: Readonly<Record<string, string>> | undefined;
}

function compareIssues(a: Issue, b: Issue): number {
  return (
    compareStrings(a.object, b.object) ||
    compareStrings(a.source ?? "", b.source ?? "") ||
    compareStrings(a.reason, b.reason) ||
    compareStrings(a.message, b.message)
  );
}

/** Sorted, deduplicated issues with messages cut to one short line and fields in a fixed order. */
export function normaliseIssues(issues: readonly Issue[]): Issue[] {
  const seen = new Set<string>();
  const out: Issue[] = [];
  for (const i of issues) {
    // Fields in a fixed order: reason, object, source, message.
    const issue: Issue =
      i.source === undefined
        ? { reason: i.reason, object: i.object, message: clip(i.message, STATUS_MESSAGE_LIMIT) }
        : {
            reason: i.reason,
            object: i.object,
            source: i.source,
            message: clip(i.message, STATUS_MESSAGE_LIMIT),
          };
    const key = JSON.stringify(issue);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(issue);
    }
  }
  return out.sort(compareIssues);
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

/** Identifies an attachment across kinds, versions and namespaces. */
function attachmentKey(o: KubeObject): string {
  return `${o.kind} ${o.apiVersion} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

/** True when Metacontroller observed an attachment of every desired kind, namespace and name. */
export function allObserved(desired: readonly KubeObject[], observed: ObjectMap): boolean {
  const present = new Set(
    Object.values(observed).flatMap((group) => Object.values(group).map(attachmentKey)),
  );
  return desired.every((d) => present.has(attachmentKey(d)));
}

/**
 * The state label's value. `Degraded` while anything is reported. Otherwise `Synced` is kept once
 * reached, so later source changes do not touch the namespace; it is reached when every mirror
 * the namespace should have has been observed in place (a namespace with none gets no label).
 * `null` (delete) otherwise: before the mirrors are in place, and when `Degraded` clears on a
 * namespace whose mirrors are not all in place yet (it becomes `Synced` once they are).
 */
export function namespaceState(facts: NamespaceFacts): State | null {
  if (reportsAnything(facts.status)) return State.Degraded;
  if (facts.labels?.[Label.state] === State.Synced) return State.Synced;
  const inPlace = facts.desired.length > 0 && allObserved(facts.desired, facts.observed);
  return inPlace ? State.Synced : null;
}

/**
 * The answer's labels and annotations for an eligible namespace. The hosts are published with the
 * state: none while the state is absent, so a new namespace gets its first write only once its
 * mirrors are in place (label and hosts together).
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

/** For a namespace that never gets mirrors: removes whatever the hook wrote before. */
export function ineligibleNamespaceMetadata(): NamespaceMetadata {
  return {
    labels: { [Label.state]: null },
    annotations: { [Annotation.hosts]: null, [Annotation.status]: null },
  };
}
