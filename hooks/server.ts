import type { Server, ServerResponse } from "node:http";
import { pino } from "pino";
import { ConfigError, loadConfig } from "../lib/config.ts";
import { createApp } from "./app.ts";
import { readEnvironment } from "./env.ts";

// Entry point: `npm start` / `node hooks/server.ts`. Reads the environment and config, serves the
// hooks, and shuts down cleanly on SIGTERM (node may be PID 1 in the container).

/** Kubernetes waits 30 s after SIGTERM before SIGKILL; finish well before. */
const SHUTDOWN_DEADLINE_MS = 20_000;

function main(): void {
  let env: ReturnType<typeof readEnvironment>;
  let config: ReturnType<typeof loadConfig>;
  try {
    env = readEnvironment(process.env);
    config = loadConfig(env.configFile, env.podNamespace);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kube-external-sync: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = pino({ level: env.logLevel, base: { app: "kube-external-sync" } });
  const { app, setReady } = createApp({
    config,
    logger,
    bodyLimit: env.bodyLimit,
    maxConcurrent: env.maxConcurrent,
  });
  const onListening = () => {
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : env.port;
    logger.info(
      {
        port,
        sourceNamespaces: config.sourceNamespaces,
        configFile: env.configFile ?? "(defaults)",
      },
      "kube-external-sync hooks listening",
    );
  };
  // Without HOST, every interface, as a pod needs; tests and the demo bind loopback.
  const server: Server =
    env.host === undefined
      ? app.listen(env.port, onListening)
      : app.listen(env.port, env.host, onListening);
  server.on("error", (err) => {
    logger.fatal({ err }, "cannot listen");
    process.exit(1);
  });
  // Metacontroller (Go's HTTP client) closes idle connections after 90 s. Keeping ours open
  // longer means the client, not the server, ends an idle connection, so a request never races a
  // server-side close (Go does not retry a POST that hits one).
  server.keepAliveTimeout = 95_000;
  server.headersTimeout = 100_000;

  // Responses not yet sent when shutdown starts close their connection: Metacontroller keeps
  // connections alive, and an idle kept-alive connection would hold server.close() open.
  let stopping = false;
  const pending = new Set<ServerResponse>();
  server.on("request", (_req, res: ServerResponse) => {
    if (stopping) res.setHeader("Connection", "close");
    pending.add(res);
    res.on("close", () => pending.delete(res));
  });

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    setReady(false);
    for (const res of pending) if (!res.headersSent) res.setHeader("Connection", "close");
    setTimeout(() => {
      logger.warn("shutdown deadline reached; exiting");
      process.exit(0);
    }, SHUTDOWN_DEADLINE_MS).unref();
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main();
