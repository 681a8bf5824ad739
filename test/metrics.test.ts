// The outcome gauges: summed over namespaces, but an invalid source that every namespace reports
// (its targets are unknown) counts once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createMetrics } from "../hooks/metrics.ts";

const counts = (invalid: string[], conflicts = 0) => ({
  mirrors: { Service: 2, Ingress: 1 },
  conflicts,
  invalidSources: invalid.length,
  invalidSourceIds: invalid,
});

async function gauge(metrics: ReturnType<typeof createMetrics>, name: string): Promise<string> {
  const text = await metrics.registry.metrics();
  return text
    .split("\n")
    .filter((l) => l.startsWith(`kube_external_sync_${name}`))
    .join("\n");
}

test("one invalid source reported by three namespaces counts once; mirrors and conflicts add up", async () => {
  const metrics = createMetrics();
  for (const ns of ["feature-a", "feature-b", "feature-c"]) {
    metrics.recordOutcome(ns, counts(["Service develop/api"], 1));
  }
  metrics.recordOutcome("feature-d", counts(["Service develop/api", "Ingress develop/web"]));
  assert.equal(await gauge(metrics, "invalid_sources"), "kube_external_sync_invalid_sources 2");
  assert.equal(await gauge(metrics, "conflicts"), "kube_external_sync_conflicts 3");
  assert.match(await gauge(metrics, "mirrors_desired"), /mirrors_desired\{kind="Service"\} 8/);
});

test("a namespace's entry is replaced by its next sync and removed when it terminates", async () => {
  const metrics = createMetrics();
  metrics.recordOutcome("feature-a", counts(["Service develop/api"], 2));
  metrics.recordOutcome("feature-a", counts([], 1));
  assert.equal(await gauge(metrics, "invalid_sources"), "kube_external_sync_invalid_sources 0");
  assert.equal(await gauge(metrics, "conflicts"), "kube_external_sync_conflicts 1");
  metrics.recordOutcome("feature-a", undefined);
  assert.equal(await gauge(metrics, "conflicts"), "kube_external_sync_conflicts 0");
});
