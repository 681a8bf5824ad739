import { SKIP_REASONS, STATUS_ENTRY_LIMIT, STATUS_MESSAGE_LIMIT } from "./constants.ts";
import { clip } from "./dns.ts";
import { compareStrings } from "./metadata.ts";
import type { Issue } from "./types.ts";

/** One line of the status as written: fields in this order. */
export interface StatusEntry {
  reason: Issue["reason"];
  /** `Kind/name` of the mirror concerned, or `Namespace/<name>`. */
  object: string;
  /** `namespace/name` of the source, when there is one. */
  source?: string;
  message: string;
}

// The `kube-external-sync.io/status` annotation on a namespace: compact, deterministic JSON that
// changes only when the outcome changes (no timestamps), capped in size.

export interface NamespaceStatus {
  mirrors: Record<string, number>;
  skipped: StatusEntry[];
  invalid: StatusEntry[];
  omitted: number;
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

export function buildStatus(
  mirrors: Record<string, number>,
  issues: readonly Issue[],
): NamespaceStatus {
  const all = normaliseIssues(issues);
  const kept = all.slice(0, STATUS_ENTRY_LIMIT);
  return {
    mirrors,
    skipped: kept.filter((i) => SKIP_REASONS.has(i.reason)),
    invalid: kept.filter((i) => !SKIP_REASONS.has(i.reason)),
    omitted: all.length - kept.length,
  };
}
