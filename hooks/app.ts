import { randomUUID } from "node:crypto";
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from "express";
import type { Logger } from "pino";
import { pinoHttp } from "pino-http";
import type { Config } from "../lib/config.ts";
import { RequestError } from "../lib/request.ts";
import { BodyError, jsonBody } from "./body.ts";
import { customizeHandler } from "./customize.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { StageClock } from "./stages.ts";
import { type SyncEngine, syncHandler } from "./sync.ts";

// The HTTP edge. Whatever goes wrong, a hook never answers 200 without the complete desired state:
// Metacontroller deletes every mirror a 200 leaves out, and retries anything else with backoff.

export interface AppOptions {
  config: Config;
  logger: Logger;
  /** Largest accepted request body, in `bytes` syntax ("32mb"). */
  bodyLimit: string;
  /** Hook requests served at once before answering 429. */
  maxConcurrent: number;
  metrics?: Metrics;
  /** Replaces the sync engine; tests use it to provoke internal errors. */
  syncEngine?: SyncEngine;
}

export interface App {
  app: Express;
  metrics: Metrics;
  /** Readiness turns false when shutdown starts. */
  setReady(ready: boolean): void;
}

const PROBES = new Set(["/healthz", "/readyz", "/metrics"]);

function plain(res: express.Response, code: number, message: string): void {
  res.status(code).type("text/plain").send(`${message}\n`);
}

export function createApp(opts: AppOptions): App {
  const metrics = opts.metrics ?? createMetrics();
  let ready = true;
  let inFlight = 0;
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.use(
    pinoHttp({
      logger: opts.logger,
      genReqId: (_req, res) => {
        const id = randomUUID();
        res.setHeader("X-Request-Id", id);
        return id;
      },
      autoLogging: { ignore: (req) => PROBES.has(req.url ?? "") },
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? "error" : res.statusCode >= 400 ? "warn" : "info",
      customProps: (_req, res) => {
        const ns = (res as express.Response).locals?.namespace;
        return ns === undefined ? {} : { namespace: ns };
      },
      // Bodies hold whole cluster objects: never logged.
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );

  app.get("/healthz", (_req, res) => plain(res, 200, "ok"));
  app.get("/readyz", (_req, res) =>
    ready ? plain(res, 200, "ok") : plain(res, 503, "shutting down"),
  );
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const hook = (name: string, handler: RequestHandler): RequestHandler[] => [
    (req, res, next) => {
      const stages = new StageClock();
      res.locals.stages = stages;
      res.on("finish", () => {
        stages.mark("answer");
        metrics.observeRequest(name, res.statusCode, stages.elapsed());
        if (res.statusCode === 200) metrics.observeStages(name, stages.seconds);
      });
      if (inFlight >= opts.maxConcurrent) {
        res.setHeader("Retry-After", "1");
        plain(res, 429, `busy: ${inFlight} hook requests in progress; retry later`);
        return;
      }
      inFlight++;
      res.on("close", () => inFlight--);
      if (!req.is("application/json")) {
        plain(res, 415, "hook requests must be JSON (Content-Type: application/json)");
        return;
      }
      next();
    },
    jsonBody(opts.bodyLimit),
    handler,
  ];
  app.post("/sync", ...hook("sync", syncHandler(opts.config, metrics, opts.syncEngine)));
  app.post("/customize", ...hook("customize", customizeHandler(opts.config)));

  app.use((req, res) => plain(res, 404, `no route for ${req.method} ${req.path}`));

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const e = err as { status?: number; message?: string };
    if (err instanceof BodyError) {
      plain(res, err.status, err.message);
    } else if (err instanceof RequestError) {
      plain(res, 400, err.message);
    } else if (typeof e.status === "number" && e.status >= 400 && e.status < 500) {
      plain(res, e.status, e.message ?? "bad request");
    } else {
      req.log.error({ err }, "hook failed");
      plain(res, 500, `internal error: ${e.message ?? String(err)}`.slice(0, 300));
    }
  };
  app.use(onError);

  return {
    app,
    metrics,
    setReady: (r) => {
      ready = r;
    },
  };
}
