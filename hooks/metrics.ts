import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { SyncOutcome } from "../lib/engine.ts";

// Prometheus metrics. Label values are bounded: hook names, status codes and kinds, never
// namespace or object names.

const PREFIX = "kube_external_sync_";
/** Namespaces remembered for the outcome gauges; far above any real cluster. */
const MAX_NAMESPACES = 100_000;

export interface Metrics {
  registry: Registry;
  observeRequest(hook: string, code: number, seconds: number): void;
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

  // The server is stateless; these gauges sum the last answer for each namespace this replica
  // computed, which is what "mirrors desired" means for a per-namespace hook.
  const outcomes = new Map<string, SyncOutcome["counts"]>();
  const sum = (pick: (c: SyncOutcome["counts"]) => number) => {
    let total = 0;
    for (const c of outcomes.values()) total += pick(c);
    return total;
  };
  new Gauge({
    name: `${PREFIX}mirrors_desired`,
    help: "Mirrors desired per kind, over the last sync of each namespace this replica answered.",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      this.reset();
      const byKind = new Map<string, number>();
      for (const c of outcomes.values()) {
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
      this.set(sum((c) => c.conflicts));
    },
  });
  new Gauge({
    name: `${PREFIX}invalid_sources`,
    help: "Sources with invalid annotations seen by the last sync of each namespace.",
    registers: [registry],
    collect() {
      this.set(sum((c) => c.invalidSources));
    },
  });

  return {
    registry,
    observeRequest(hook, code, seconds) {
      requests.inc({ hook, code: String(code) });
      duration.observe({ hook }, seconds);
    },
    recordOutcome(namespace, counts) {
      if (counts === undefined) {
        outcomes.delete(namespace);
        return;
      }
      if (!outcomes.has(namespace) && outcomes.size >= MAX_NAMESPACES) return;
      outcomes.set(namespace, counts);
    },
  };
}
