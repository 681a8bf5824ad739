import { randomUUID } from "node:crypto";
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from "express";
import type { Logger } from "pino";
import { pinoHttp } from "pino-http";
import type { Config } from "../lib/config.ts";
import { RequestError } from "../lib/request.ts";
import { customizeHandler } from "./customize.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
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

class BodyError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * The answer to a body that is not JSON. The parser's message quotes the body around the error,
 * which may be a Secret's data: say only where.
 */
function notJson(parserMessage: string): string {
  const where = /at position \d+(?: \(line \d+ column \d+\))?/.exec(parserMessage)?.[0];
  return `request body is not valid JSON${where === undefined ? "" : ` (${where})`}`;
}

/**
 * The body, read whole by express.raw (limit, aborts, encodings), parsed in one JSON.parse of one
 * flat string: no decoding chunk by chunk, and the bytes are dropped before the objects are built.
 * Like express.json in strict mode, only an object or an array is accepted.
 */
const parseJsonBody: RequestHandler = (req, _res, next) => {
  const charset = req.headers["content-type"]?.match(/;\s*charset=("?)([^";]+)\1/i)?.[2];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    next(new BodyError(415, `unsupported charset ${JSON.stringify(charset)}: send UTF-8 JSON`));
    return;
  }
  const text = Buffer.isBuffer(req.body) ? req.body.toString("utf8") : "";
  req.body = undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    next(new BodyError(400, notJson((e as Error).message)));
    return;
  }
  if (typeof body !== "object" || body === null) {
    next(new BodyError(400, "request body is not valid JSON: expected an object"));
    return;
  }
  req.body = body;
  next();
};

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
      const started = process.hrtime.bigint();
      res.on("finish", () => {
        metrics.observeRequest(
          name,
          res.statusCode,
          Number(process.hrtime.bigint() - started) / 1e9,
        );
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
    express.raw({ type: "application/json", limit: opts.bodyLimit }),
    parseJsonBody,
    handler,
  ];
  app.post("/sync", ...hook("sync", syncHandler(opts.config, metrics, opts.syncEngine)));
  app.post("/customize", ...hook("customize", customizeHandler(opts.config)));

  app.use((req, res) => plain(res, 404, `no route for ${req.method} ${req.path}`));

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const e = err as {
      type?: string;
      status?: number;
      message?: string;
      length?: number;
      received?: number;
    };
    if (e.type === "entity.too.large") {
      // A chunked body declares no length; body-parser stops reading once past the limit.
      const size = e.length !== undefined ? `${e.length} bytes` : `more than ${e.received} bytes`;
      plain(
        res,
        413,
        `request body of ${size} exceeds BODY_LIMIT (${opts.bodyLimit}); raise BODY_LIMIT`,
      );
    } else if (err instanceof BodyError) {
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
