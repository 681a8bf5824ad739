// The namespace's state label, hosts and status annotations (docs/design.md, Status and reasons),
// decided by lib/status.ts from plain data, and what Metacontroller writes for them: it merges the
// answer's labels and annotations key by key (null deletes) and updates the namespace only when
// that changes something.

import assert from "node:assert/strict";
import { test } from "node:test";
import { HOSTS_LIMIT, Reason, STATUS_ENTRY_LIMIT } from "../lib/constants.ts";
import {
  buildStatus,
  hostsAnnotation,
  ineligibleNamespaceMetadata,
  type NamespaceFacts,
  namespaceMetadata,
  statusAnnotation,
} from "../lib/status.ts";
import type { Issue, KubeObject, ObjectMap } from "../lib/types.ts";

const STATE = "kube-external-sync.io/state";
const HOSTS = "kube-external-sync.io/hosts";
const STATUS = "kube-external-sync.io/status";

const service = (name: string): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "feature-x" },
});
const observedAll = (objects: KubeObject[]): ObjectMap => ({
  "Service.v1": Object.fromEntries(objects.map((o) => [`feature-x/${o.metadata.name}`, o])),
});
/** An issue about the Service `name` of develop. */
const serviceIssue = (reason: Reason, name: string, message: string): Issue => ({
  reason,
  kind: "Service",
  name,
  source: { namespace: "develop", name },
  message,
});
const conflict = serviceIssue(Reason.Conflict, "db", "exists");
const invalid = serviceIssue(Reason.InvalidAnnotation, "web", "bad");
const skipped = serviceIssue(Reason.Skipped, "api", "skip");

/** Metacontroller's update of the parent: true when the namespace would be written. */
function writes(
  namespace: { labels: Record<string, string>; annotations: Record<string, string> },
  answer: ReturnType<typeof namespaceMetadata>,
): boolean {
  const changes = (current: Record<string, string>, wanted: Record<string, string | null>) =>
    Object.entries(wanted).some(([k, v]) =>
      v === null ? Object.hasOwn(current, k) : current[k] !== v,
    );
  return (
    changes(namespace.labels, answer.labels) || changes(namespace.annotations, answer.annotations)
  );
}

const api = service("api");
const db = service("db");

// current label | desired | observed | issues | expected state
const rows: [string, string | undefined, KubeObject[], KubeObject[], Issue[], string | null][] = [
  ["absent until every mirror is observed", undefined, [api, db], [api], [], null],
  ["Synced once every mirror is observed", undefined, [api, db], [api, db], [], "Synced"],
  ["no state for a namespace that should have no mirror", undefined, [], [], [], null],
  ["Degraded without mirrors for a problem here", undefined, [], [], [conflict], "Degraded"],
  [
    "no first state without mirrors for an invalid source alone",
    undefined,
    [],
    [],
    [invalid],
    null,
  ],
  ["Degraded by an invalid source once it has a state", "Synced", [], [], [invalid], "Degraded"],
  ["Degraded at once when a problem is reported", undefined, [api], [], [conflict], "Degraded"],
  ["Synced kept while a new mirror is not observed yet", "Synced", [api, db], [api], [], "Synced"],
  ["Synced kept when the last mirror goes", "Synced", [], [api], [], "Synced"],
  ["Degraded while a problem is reported", "Synced", [api], [api], [conflict], "Degraded"],
  ["back to Synced when it clears", "Degraded", [api, db], [api], [], "Synced"],
  ["a skip the namespace asked for is no problem", "Synced", [api], [api], [skipped], "Synced"],
  ["an unknown value is replaced", "Ready", [api], [], [], null],
];

for (const [behaviour, current, desired, observed, issues, expected] of rows) {
  test(`state: ${behaviour}`, () => {
    const facts: NamespaceFacts = {
      desired,
      observed: () => observedAll(observed),
      issues,
      status: buildStatus(issues),
      hosts: [],
      labels: current === undefined ? undefined : { [STATE]: current },
    };
    assert.equal(namespaceMetadata(facts).labels[STATE], expected);
  });
}

test("an attachment observed under another kind, version or namespace is not in place", () => {
  const elsewhere = { ...api, metadata: { ...api.metadata, namespace: "develop" } };
  const otherVersion = { ...api, apiVersion: "v2" };
  for (const seen of [elsewhere, otherVersion]) {
    const facts = {
      desired: [api],
      observed: () => observedAll([seen]),
      issues: [],
      status: buildStatus([]),
      hosts: [],
    };
    assert.equal(namespaceMetadata({ ...facts, labels: undefined }).labels[STATE], null);
  }
});

test("a new namespace is written once: nothing before its mirrors are observed, then label and hosts together", () => {
  const namespace = { labels: {}, annotations: {} };
  const facts = {
    desired: [api],
    issues: [],
    status: buildStatus([]),
    hosts: ["b.example.com", "a.example.com"],
    labels: {},
  };
  const before = namespaceMetadata({ ...facts, observed: () => observedAll([]) });
  assert.equal(writes(namespace, before), false);
  const after = namespaceMetadata({ ...facts, observed: () => observedAll([api]) });
  assert.deepEqual(after, {
    labels: { [STATE]: "Synced" },
    annotations: { [HOSTS]: "a.example.com,b.example.com", [STATUS]: null },
  });
  const written = {
    labels: { [STATE]: "Synced" },
    annotations: { [HOSTS]: "a.example.com,b.example.com" },
  };
  const again = namespaceMetadata({
    ...facts,
    labels: written.labels,
    observed: () => observedAll([api]),
  });
  assert.equal(writes(written, again), false, "an unchanged namespace is written again");
});

test("an ineligible namespace is answered null for every key the hook writes", () => {
  assert.deepEqual(ineligibleNamespaceMetadata(), {
    labels: { [STATE]: null },
    annotations: { [HOSTS]: null, [STATUS]: null },
  });
  assert.equal(writes({ labels: {}, annotations: {} }, ineligibleNamespaceMetadata()), false);
});

test("hosts: distinct, sorted by code unit, comma-separated, empty ones left out, capped", () => {
  assert.equal(hostsAnnotation([]), null);
  assert.equal(hostsAnnotation([""]), null);
  assert.equal(
    hostsAnnotation(["b.example.com", "*.a.example.com", "B.example.com", "b.example.com"]),
    "*.a.example.com,B.example.com,b.example.com",
  );
  const many = Array.from(
    { length: HOSTS_LIMIT + 5 },
    (_, i) => `h${String(i).padStart(4, "0")}.example.com`,
  );
  const listed = (hostsAnnotation(many) ?? "").split(",");
  assert.equal(listed.length, HOSTS_LIMIT);
  assert.equal(listed[0], "h0000.example.com");
});

test("status: null with nothing to say; no counts; omitted only when entries were cut", () => {
  assert.equal(statusAnnotation(buildStatus([])), null);
  // Entries as written: `Kind/name` and `namespace/name`, sorted by object.
  assert.deepEqual(JSON.parse(statusAnnotation(buildStatus([conflict, skipped])) ?? ""), {
    skipped: [
      { reason: "Skipped", object: "Service/api", source: "develop/api", message: "skip" },
      { reason: "Conflict", object: "Service/db", source: "develop/db", message: "exists" },
    ],
    invalid: [],
  });
  const flood = Array.from({ length: STATUS_ENTRY_LIMIT + 3 }, (_, i) => ({
    ...conflict,
    name: `s${String(i).padStart(3, "0")}`,
  }));
  const capped = JSON.parse(statusAnnotation(buildStatus(flood)) ?? "") as Record<string, unknown>;
  assert.equal(capped.omitted, 3);
  assert.ok(!("mirrors" in capped));
});
