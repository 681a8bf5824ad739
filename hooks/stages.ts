import type { Response } from "express";

// The stages of a hook request, timed where they happen (hooks/body.ts, sync.ts, customize.ts) and
// reported by app.ts as kube_external_sync_hook_stage_seconds: where a request's time goes in the
// server itself, which is what `npm run bench` prints.

/** The stages in order; each begins where the one before ended. */
export const STAGES = ["body", "parse", "validation", "engine", "answer"] as const;
export type Stage = (typeof STAGES)[number];

/**
 * Times one request's stages: `body` from the hook's first middleware (headers read) until the
 * body is read and filtered, `parse` the JSON.parse of what is kept, `validation` the request's
 * checks, `engine` the answer computed, `answer` until it is all handed to the connection (its
 * serialisation, the outcome's metrics and the access log line included).
 */
export class StageClock {
  readonly seconds: Partial<Record<Stage, number>> = {};
  private readonly started = process.hrtime.bigint();
  private last = this.started;

  /** Ends `stage` now. */
  mark(stage: Stage): void {
    const now = process.hrtime.bigint();
    this.seconds[stage] = Number(now - this.last) / 1e9;
    this.last = now;
  }

  /** Seconds from the start to the last mark: the request's duration, the sum of its stages. */
  elapsed(): number {
    return Number(this.last - this.started) / 1e9;
  }
}

/** Ends `stage` of the request `res` answers, when its stages are timed (the hooks' are). */
export function markStage(res: Response, stage: Stage): void {
  (res.locals.stages as StageClock | undefined)?.mark(stage);
}
