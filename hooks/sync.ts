import type { RequestHandler } from "express";
import type { Config } from "../lib/config.ts";
import { computeSync, type SyncOutcome } from "../lib/engine.ts";
import { parseSyncRequest, type SyncInput } from "../lib/request.ts";
import { sendJson } from "./body.ts";
import type { Metrics } from "./metrics.ts";
import { markStage } from "./stages.ts";

export type SyncEngine = (input: SyncInput, config: Config) => SyncOutcome;

/** POST /sync: the desired mirrors of one namespace. Errors propagate to the error middleware. */
export function syncHandler(
  config: Config,
  metrics: Metrics,
  engine: SyncEngine = computeSync,
): RequestHandler {
  return (req, res) => {
    const request = parseSyncRequest(req.body, config);
    markStage(res, "validation");
    res.locals.namespace = request.namespace.metadata.name;
    const outcome = engine(request, config);
    markStage(res, "engine");
    const terminating = request.namespace.metadata.deletionTimestamp != null;
    metrics.recordOutcome(
      request.namespace.metadata.name,
      terminating ? undefined : outcome.counts,
    );
    sendJson(res, outcome.response);
  };
}
