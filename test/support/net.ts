import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import http, { type IncomingHttpHeaders } from "node:http";
import https from "node:https";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";

// Loopback networking shared by the HTTP tests, the cluster tests and the benches: a free port,
// one HTTP(S) client, and the real entry point (`node hooks/server.ts`) as a child process.

const ROOT = new URL("../..", import.meta.url).pathname;

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** The answer as UTF-8 text; empty with `countOnly`. */
  text: string;
  /** The answer's length in bytes. */
  bytes: number;
}

export interface RequestOptions {
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Omit Content-Length and send the body chunked. */
  chunked?: boolean;
  /** A keep-alive agent to reuse connections; default: a connection of its own. */
  agent?: http.Agent | false;
  /** HTTPS, trusting `ca` (a PEM chain) or, for a self-signed probe target, nothing (`insecure`). */
  tls?: { ca?: string; insecure?: boolean };
  /** Fails the request when the socket is idle this long; default: no limit. */
  timeoutMs?: number;
  /** Counts the answer's bytes without keeping or decoding them (the bench times the server). */
  countOnly?: boolean;
}

/** Ports this process handed out already: a port just closed can be handed out again. */
const handedOut = new Set<number>();

/** A port free on 127.0.0.1 right now, and not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createNetServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const address = server.address();
    if (address === null || typeof address !== "object") throw new Error("no port assigned");
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!handedOut.has(address.port)) {
      handedOut.add(address.port);
      return address.port;
    }
  }
}

/** A server listening on 127.0.0.1 (port 0), and how to close it with its open connections. */
export interface Listening {
  port: number;
  close(): Promise<void>;
}

/** Starts `app` (an Express app or a request listener) on 127.0.0.1, on a port the system picks. */
export async function listenOnLoopback(app: http.RequestListener): Promise<Listening> {
  const server = http.createServer(app);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("no port assigned");
  return {
    port: address.port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Node's options for a request to 127.0.0.1: Content-Length unless chunked, TLS, timeout. */
function nodeOptions(port: number, path: string, opts: RequestOptions): https.RequestOptions {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined && !opts.chunked)
    headers["content-length"] = String(Buffer.byteLength(opts.body));
  const options: https.RequestOptions = {
    host: "127.0.0.1",
    port,
    path,
    method: opts.method ?? "GET",
    headers,
    agent: opts.agent ?? false,
  };
  if (opts.timeoutMs !== undefined) options.timeout = opts.timeoutMs;
  if (opts.tls?.ca !== undefined) options.ca = opts.tls.ca;
  if (opts.tls?.insecure) options.rejectUnauthorized = false;
  return options;
}

/**
 * Starts a request to 127.0.0.1 and reads its reply; the caller writes the body (`opts.body` is
 * not sent, only counted in Content-Length) and ends it.
 */
export function startRequest(
  port: number,
  path: string,
  opts: RequestOptions = {},
): { req: http.ClientRequest; reply: Promise<Reply> } {
  const { promise: reply, resolve, reject } = Promise.withResolvers<Reply>();
  const options = nodeOptions(port, path, opts);
  const req = (opts.tls ? https : http).request(options, (res) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on("data", (c: Buffer) => {
      bytes += c.length;
      if (!opts.countOnly) chunks.push(c);
    });
    res.on("end", () =>
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: Buffer.concat(chunks).toString("utf8"),
        bytes,
      }),
    );
    res.on("error", reject);
  });
  req.on("timeout", () =>
    req.destroy(new Error(`${options.method} ${path} timed out after ${opts.timeoutMs} ms`)),
  );
  req.on("error", reject);
  return { req, reply };
}

/** One HTTP request to 127.0.0.1; without `agent`, on its own connection, so none outlives it. */
export async function request(
  port: number,
  path: string,
  opts: RequestOptions = {},
): Promise<Reply> {
  const { req, reply } = startRequest(port, path, opts);
  if (opts.body !== undefined && opts.chunked) {
    // Several writes, so the server sees Transfer-Encoding: chunked.
    const buf = Buffer.from(opts.body);
    const step = 4096;
    for (let i = 0; i < buf.length; i += step) req.write(buf.subarray(i, i + step));
  } else if (opts.body !== undefined) {
    req.write(opts.body);
  }
  req.end();
  return reply;
}

/** POST of a JSON body (a string or Buffer is sent as it is). */
export function postJson(
  port: number,
  path: string,
  body: unknown,
  opts: RequestOptions = {},
): Promise<Reply> {
  return request(port, path, {
    method: "POST",
    body: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    ...opts,
    headers: { "content-type": "application/json", ...opts.headers },
  });
}

export interface ServerProcess {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `node [nodeArgs] <entry>` with only PATH, LOG_LEVEL=warn and `env` set; the entry point is
 * hooks/server.ts unless another (the compiled dist/hooks/server.js) is given.
 */
export function startServerProcess(
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
  entry = join(ROOT, "hooks/server.ts"),
): ServerProcess {
  const proc = spawn(process.execPath, [...nodeArgs, entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  proc.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  proc.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return { proc, stdout: () => out, stderr: () => err, exit };
}

/** Rejects when `promise` does not settle within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls /readyz until the server answers 200; fails early when the process exits. */
export async function waitReady(port: number, child: ServerProcess, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null)
      throw new Error(`server exited with ${child.proc.exitCode}: ${child.stderr()}`);
    try {
      if ((await request(port, "/readyz")).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`server not ready within ${ms} ms: ${child.stderr()}`);
}
