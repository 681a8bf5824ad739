import { SKIP_REASONS, STATUS_ENTRY_LIMIT, STATUS_MESSAGE_LIMIT } from "./constants.ts";
import { clip } from "./dns.ts";
import { compareStrings } from "./metadata.ts";
import type { Issue } from "./types.ts";

// The `kube-external-sync.io/status` annotation on a namespace: compact, deterministic JSON that
// changes only when the outcome changes (no timestamps), capped in size.

export interface NamespaceStatus {
  mirrors: Record<string, number>;
  skipped: Issue[];
  invalid: Issue[];
  omitted: number;
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
