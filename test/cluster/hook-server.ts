// The hook server as a separate process (node hooks/server.ts) on 127.0.0.1, as Metacontroller
// calls it; its log goes to a file.

import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freePort, request } from "../support/net.ts";
import { REPO_ROOT } from "./build.ts";
import {
  type ManagedProcess,
  StartupError,
  spawnDetached,
  stopProcessGroup,
  trackDir,
  untrackDir,
  waitFor,
} from "./processes.ts";

export interface HookServerOptions {
  /** The hook never calls the API; passed as KUBECONFIG only so the process sees the same cluster. */
  kubeconfig?: string;
  configFile: string;
  /** Default: a free port. */
  port?: number;
  /** LOG_LEVEL (default `warn`; `info` logs every request). */
  logLevel?: string;
  /** Where its log goes (default: a new temp directory, removed by stop()). */
  dir?: string;
  persistent?: boolean;
  timeoutMs?: number;
}

export interface HookServer {
  url: string;
  port: number;
  process: ManagedProcess;
  logFile: string;
  stop(): Promise<void>;
}

export async function startHookServer(opts: HookServerOptions): Promise<HookServer> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), "kes-hook-")));
  if (ownDir && !opts.persistent) trackDir(dir);
  const logFile = path.join(dir, "hook-server.log");
  const removeDir = () => {
    if (!ownDir) return;
    rmSync(dir, { recursive: true, force: true });
    untrackDir(dir);
  };
  // A free port can be taken between the probe and the listen: try a few.
  const attempts = opts.port === undefined ? 3 : 1;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = opts.port ?? (await freePort());
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      CONFIG_FILE: path.resolve(opts.configFile),
      LOG_LEVEL: opts.logLevel ?? "warn",
    };
    if (opts.kubeconfig) env.KUBECONFIG = opts.kubeconfig;
    const proc = await spawnDetached(
      "hook server",
      process.execPath,
      [path.join(REPO_ROOT, "hooks", "server.ts")],
      { logFile, env, persistent: opts.persistent },
    );
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        "hook server /readyz",
        opts.timeoutMs ?? 30_000,
        async () =>
          (await request(port, "/readyz", { timeoutMs: 3_000 })).status === 200 ? true : undefined,
        [proc],
      );
      return {
        url,
        port,
        process: proc,
        logFile,
        stop: async () => {
          await stopProcessGroup(proc.pid);
          removeDir();
        },
      };
    } catch (e) {
      lastError = e;
      await stopProcessGroup(proc.pid);
    }
  }
  if (lastError instanceof StartupError) process.stderr.write(`${lastError.message}\n`);
  removeDir();
  throw lastError;
}

/** How many requests the hook server has answered for `hook` ("sync", "customize") so far. */
export async function hookCalls(hook: Pick<HookServer, "port">, name: string): Promise<number> {
  const r = await request(hook.port, "/metrics", { timeoutMs: 3_000 });
  if (r.status !== 200) throw new Error(`GET /metrics of the hook server: ${r.status}`);
  let total = 0;
  for (const line of r.text.split("\n")) {
    if (!line.startsWith("kube_external_sync_hook_requests_total{")) continue;
    if (!line.includes(`hook="${name}"`)) continue;
    total += Number(line.slice(line.lastIndexOf("}") + 1).trim());
  }
  return total;
}
