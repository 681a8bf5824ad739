import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { SyncOutcome } from "../lib/engine.ts";
import { STAGES, type Stage } from "./stages.ts";

// Prometheus metrics. Label values are bounded: hook names, status codes, stage names and kinds,
// never namespace or object names.

const PREFIX = "kube_external_sync_";
/** Namespaces remembered for the outcome gauges; far above any real cluster. */
const MAX_NAMESPACES = 100_000;
const OUTCOME_TTL_MS = 60 * 60 * 1000;

export interface Metrics {
  registry: Registry;
  observeRequest(hook: string, code: number, seconds: number): void;
  /** The stages of a request answered 200 (hooks/stages.ts). */
  observeStages(hook: string, seconds: Partial<Record<Stage, number>>): void;
  /** Remembers the outcome of the last sync of `namespace` for the gauges. */
  recordOutcome(namespace: string, counts: SyncOutcome["counts"] | undefined): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const requests = new Counter({
    name: `${PREFIX}hook_requests_total`,
    help: "Hook requests by hook and HTTP status code.",
    labelNames: ["hook", "code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${PREFIX}hook_duration_seconds`,
    help: "Time to answer a hook request, body parsing included.",
    labelNames: ["hook"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });

  const stageDuration = new Histogram({
    name: `${PREFIX}hook_stage_seconds`,
    help: "Time of each stage of a hook request answered 200: body (read and filtered), parse, validation, engine, answer (until handed to the connection). They add up to hook_duration_seconds.",
    labelNames: ["hook", "stage"],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  // The server is stateless; these gauges sum the last answer for each namespace this replica
  // computed, which is what "mirrors desired" means for a per-namespace hook.
  // Entries not refreshed for an hour are dropped: Metacontroller re-syncs every namespace every
  // 30 minutes, so an older entry is a namespace that is gone or served by another replica.
  const outcomes = new Map<string, { counts: SyncOutcome["counts"]; at: number }>();
  const current = (): SyncOutcome["counts"][] => {
    const oldest = Date.now() - OUTCOME_TTL_MS;
    for (const [ns, o] of outcomes) if (o.at < oldest) outcomes.delete(ns);
    return [...outcomes.values()].map((o) => o.counts);
  };
  new Gauge({
    name: `${PREFIX}mirrors_desired`,
    help: "Mirrors desired per kind, over the last sync of each namespace this replica answered within the hour.",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      this.reset();
      const byKind = new Map<string, number>();
      for (const c of current()) {
        for (const [kind, n] of Object.entries(c.mirrors))
          byKind.set(kind, (byKind.get(kind) ?? 0) + n);
      }
      for (const [kind, n] of byKind) this.set({ kind }, n);
    },
  });
  new Gauge({
    name: `${PREFIX}conflicts`,
    help: "Mirrors withheld because of a conflict, over the last sync of each namespace.",
    registers: [registry],
    collect() {
      this.set(current().reduce((n, c) => n + c.conflicts, 0));
    },
  });
  new Gauge({
    name: `${PREFIX}invalid_sources`,
    help: "Distinct sources with invalid annotations, over the last sync of each namespace.",
    registers: [registry],
    collect() {
      // Every namespace reports an invalid source (its targets are unknown): count it once.
      this.set(new Set(current().flatMap((c) => c.invalidSourceIds)).size);
    },
  });

  return {
    registry,
    observeRequest(hook, code, seconds) {
      requests.inc({ hook, code: String(code) });
      duration.observe({ hook }, seconds);
    },
    observeStages(hook, seconds) {
      for (const stage of STAGES) {
        const value = seconds[stage];
        if (value !== undefined) stageDuration.observe({ hook, stage }, value);
      }
    },
    recordOutcome(namespace, counts) {
      if (counts === undefined) {
        outcomes.delete(namespace);
        return;
      }
      if (!outcomes.has(namespace) && outcomes.size >= MAX_NAMESPACES) return;
      outcomes.set(namespace, { counts, at: Date.now() });
    },
  };
}
