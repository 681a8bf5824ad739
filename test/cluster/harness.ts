// A real, local Kubernetes control plane for tests and the demo: etcd, kube-apiserver and
// kube-controller-manager built by build.ts, on loopback, on free ports, in one temp directory.
// Plus the hook server as a separate process. No scheduler, kubelet, kube-proxy or DNS: pods never
// run and Services do not route, which is all the hook's output needs (it is validated by the API
// server, not served traffic).
//
// Every process is spawned detached, in its own process group, logging to a file in the temp
// directory. stop() sends SIGTERM to each group, SIGKILL after a timeout, and removes the directory.
// Unless `persistent` is set (the demo), 'exit', SIGINT, SIGTERM and SIGHUP handlers kill whatever
// is still running, so a failed or interrupted test leaves nothing behind.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { dump } from "js-yaml";
import { type Binaries, ensureBinaries, REPO_ROOT } from "./build.ts";
import { type CommandResult, runCommand } from "./kube.ts";

// ---------------------------------------------------------------------------------------------
// Processes

export interface ManagedProcess {
  name: string;
  /** Also the process group id: every process is spawned as a group leader. */
  pid: number;
  /** Field 22 of /proc/<pid>/stat: tells our process from a later one that reuses the pid. */
  startTime: string | undefined;
  logFile: string;
  child: ChildProcess;
}

/** Process groups and directories to remove if this process exits before stop() ran. */
const liveGroups = new Map<number, string>();
const liveDirs = new Set<string>();
let handlersInstalled = false;

function cleanupNow(): void {
  for (const pgid of liveGroups.keys()) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  liveGroups.clear();
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch {
      // best effort while exiting
    }
  }
  liveDirs.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", cleanupNow);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      cleanupNow();
      process.exit(128 + (os.constants.signals[sig] ?? 0));
    });
  }
}

interface ProcStat {
  pid: number;
  state: string;
  pgrp: number;
  startTime: string;
}

function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const [state, , pgrp] = fields;
  const startTime = fields[19];
  if (state === undefined || pgrp === undefined || startTime === undefined) return undefined;
  return { pid, state, pgrp: Number(pgrp), startTime };
}

export function processStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime;
}

/** Live (not zombie) members of a process group. */
export function groupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const out: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const st = readProcStat(Number(e));
    if (st && st.pgrp === pgid && st.state !== "Z" && st.state !== "X") out.push(st.pid);
  }
  return out;
}

export interface StopOptions {
  /** SIGKILL after this long (default 10 s). */
  timeoutMs?: number;
  /** When set, a leader with another start time is a reused pid: leave it alone. */
  startTime?: string;
}

/** SIGTERM to the whole group, SIGKILL after the timeout; resolves when no member is left. */
export async function stopProcessGroup(pgid: number, opts: StopOptions = {}): Promise<void> {
  const leader = readProcStat(pgid);
  if (leader && opts.startTime !== undefined && leader.startTime !== opts.startTime) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pgid, sig);
    } catch {
      // ESRCH: nothing left
    }
  };
  if (groupMembers(pgid).length === 0) return;
  signal("SIGTERM");
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  while (groupMembers(pgid).length > 0) {
    if (Date.now() > deadline) {
      signal("SIGKILL");
      const hard = Date.now() + 5_000;
      while (groupMembers(pgid).length > 0 && Date.now() < hard) await delay(50);
      break;
    }
    await delay(50);
  }
  liveGroups.delete(pgid);
}

interface SpawnOptions {
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  persistent?: boolean;
}

async function spawnDetached(
  name: string,
  cmd: string,
  args: readonly string[],
  opts: SpawnOptions,
): Promise<ManagedProcess> {
  const fd = openSync(opts.logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd ?? REPO_ROOT,
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once("error", resolve));
    throw new Error(`cannot start ${name} (${cmd}): ${err.message}`);
  }
  child.on("error", () => {
    // reported through exitCode / the log file
  });
  if (opts.persistent) {
    child.unref();
  } else {
    installExitHandlers();
    liveGroups.set(pid, name);
  }
  return { name, pid, startTime: processStartTime(pid), logFile: opts.logFile, child };
}

export function tail(file: string, lines = 40): string {
  try {
    const text = readFileSync(file, "utf8").trimEnd();
    return text.split("\n").slice(-lines).join("\n");
  } catch (e) {
    return `(no log: ${(e as Error).message})`;
  }
}

// ---------------------------------------------------------------------------------------------
// Waiting

const handedOut = new Set<number>();

/** A port nobody listens on right now (and not handed out before by this process). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const addr = srv.address();
        const p = typeof addr === "object" && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export class StartupError extends Error {}

function exited(p: ManagedProcess): string | undefined {
  const { exitCode, signalCode } = p.child;
  if (exitCode !== null) return `exit code ${exitCode}`;
  if (signalCode !== null) return `signal ${signalCode}`;
  return undefined;
}

/** Polls `probe` until it returns a value; fails fast if a watched process dies. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  watch: readonly ManagedProcess[] = [],
): Promise<T> {
  const started = Date.now();
  let last = "";
  for (;;) {
    for (const p of watch) {
      const how = exited(p);
      if (how) {
        throw new StartupError(
          `${p.name} stopped (${how}) while waiting for ${what}; last lines of ${p.logFile}:\n${tail(p.logFile)}`,
        );
      }
    }
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() - started > timeoutMs) {
      const p = watch.at(-1);
      throw new StartupError(
        `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}` +
          (last ? ` (last error: ${last})` : "") +
          (p ? `; last lines of ${p.logFile}:\n${tail(p.logFile)}` : ""),
      );
    }
    await delay(250);
  }
}

export interface HttpResult {
  status: number;
  body: string;
}

export function httpGet(
  url: string,
  opts: { token?: string; ca?: string; insecure?: boolean; timeoutMs?: number } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const options: https.RequestOptions = { headers, timeout: opts.timeoutMs ?? 3_000 };
    if (u.protocol === "https:") {
      if (opts.ca) options.ca = opts.ca;
      if (opts.insecure) options.rejectUnauthorized = false;
    }
    const req = (u.protocol === "https:" ? https : http).get(u, options, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Control plane

export interface ControlPlaneOptions {
  /** Default: ensureBinaries() (builds whatever is missing). */
  binaries?: Binaries;
  /** Where the run directory is created (default: the OS temp dir). */
  baseDir?: string;
  /** Per component readiness timeout (default 120 s; the apiserver needs up to a minute on 2 cores). */
  timeoutMs?: number;
  /** The demo: processes outlive this Node process; no exit handlers, no removal on exit. */
  persistent?: boolean;
  log?: (line: string) => void;
  /** Called as soon as each process is spawned (the demo records it before it is even ready). */
  onSpawn?: (dir: string, p: ManagedProcess) => void;
}

export interface ControlPlane {
  dir: string;
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Bearer token of the admin user (group system:masters). */
  token: string;
  /** PEM of the apiserver's self-signed serving chain; the kubeconfig trusts it. */
  ca: string;
  binaries: Binaries;
  processes: ManagedProcess[];
  stop(): Promise<void>;
}

const SERVICE_CIDR = "10.0.0.0/24";

function writeKubeconfig(file: string, server: string, caFile: string, token: string) {
  const doc = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "local", cluster: { server, "certificate-authority": caFile } }],
    users: [{ name: "admin", user: { token } }],
    contexts: [
      { name: "local", context: { cluster: "local", user: "admin", namespace: "default" } },
    ],
    "current-context": "local",
  };
  return writeFile(file, dump(doc), { mode: 0o600 });
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const binaries = opts.binaries ?? (await ensureBinaries());
  const baseDir = opts.baseDir ?? os.tmpdir();
  await mkdir(baseDir, { recursive: true });
  const dir = await mkdtemp(path.join(baseDir, "kes-cluster-"));
  if (!opts.persistent) {
    installExitHandlers();
    liveDirs.add(dir);
  }
  const processes: ManagedProcess[] = [];
  const started = (p: ManagedProcess) => {
    processes.push(p);
    opts.onSpawn?.(dir, p);
  };
  const stop = async () => {
    for (const p of [...processes].reverse()) await stopProcessGroup(p.pid);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    liveDirs.delete(dir);
  };

  try {
    const t0 = Date.now();
    // etcd ------------------------------------------------------------------------------------
    const [etcdClient, etcdPeer, apiPort, kcmPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    const etcd = await spawnDetached(
      "etcd",
      binaries.etcd,
      [
        "--name=kes",
        `--data-dir=${path.join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=kes=${peerUrl}`,
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      { logFile: path.join(dir, "etcd.log"), persistent: opts.persistent },
    );
    started(etcd);
    await waitFor(
      "etcd /health",
      timeoutMs,
      async () => {
        const r = await httpGet(`${etcdUrl}/health`);
        return r.status === 200 && /"health":\s*"true"/.test(r.body) ? true : undefined;
      },
      [etcd],
    );
    log(`  etcd ready on ${etcdUrl} (${Math.round((Date.now() - t0) / 100) / 10}s)`);

    // kube-apiserver --------------------------------------------------------------------------
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const saKey = path.join(dir, "sa.key");
    const saPub = path.join(dir, "sa.pub");
    await writeFile(saKey, privateKey.export({ type: "pkcs1", format: "pem" }), { mode: 0o600 });
    await writeFile(saPub, publicKey.export({ type: "spki", format: "pem" }));
    const token = randomBytes(24).toString("hex");
    const tokenFile = path.join(dir, "tokens.csv");
    await writeFile(tokenFile, `${token},admin,admin,system:masters\n`, { mode: 0o600 });
    const certDir = path.join(dir, "apiserver-certs");
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = await spawnDetached(
      "kube-apiserver",
      binaries.apiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${apiPort}`,
        `--cert-dir=${certDir}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        `--token-auth-file=${tokenFile}`,
        "--authorization-mode=RBAC",
        "--profiling=false",
      ],
      { logFile: path.join(dir, "kube-apiserver.log"), persistent: opts.persistent },
    );
    started(apiserver);
    await waitFor(
      "kube-apiserver /readyz",
      timeoutMs,
      async () => {
        const r = await httpGet(`${server}/readyz`, { token, insecure: true });
        return r.status === 200 ? true : undefined;
      },
      [etcd, apiserver],
    );
    // The serving certificate the apiserver generated is self-signed and names 127.0.0.1: trust
    // it explicitly rather than skipping verification.
    const caFile = path.join(certDir, "apiserver.crt");
    const ca = await readFile(caFile, "utf8");
    const check = await httpGet(`${server}/readyz`, { token, ca });
    if (check.status !== 200)
      throw new StartupError(`/readyz with the CA answered ${check.status}`);
    log(`  kube-apiserver ready on ${server} (${Math.round((Date.now() - t0) / 100) / 10}s)`);
    const kubeconfigPath = path.join(dir, "kubeconfig");
    await writeKubeconfig(kubeconfigPath, server, caFile, token);

    // kube-controller-manager -----------------------------------------------------------------
    const kcm = await spawnDetached(
      "kube-controller-manager",
      binaries.controllerManager,
      [
        `--kubeconfig=${kubeconfigPath}`,
        `--authentication-kubeconfig=${kubeconfigPath}`,
        `--authorization-kubeconfig=${kubeconfigPath}`,
        // namespace: deletes what is in a deleted namespace (else Terminating forever);
        // garbage-collector: owner references; serviceaccount(+token, root CA): the default
        // ServiceAccount, its token and kube-root-ca.crt in every namespace, as in a real cluster.
        "--controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller," +
          "serviceaccount-token-controller,root-ca-certificate-publisher-controller",
        `--service-account-private-key-file=${saKey}`,
        `--root-ca-file=${caFile}`,
        "--use-service-account-credentials=false",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${kcmPort}`,
        `--cert-dir=${path.join(dir, "kcm-certs")}`,
        "--profiling=false",
      ],
      { logFile: path.join(dir, "kube-controller-manager.log"), persistent: opts.persistent },
    );
    started(kcm);
    await waitFor(
      "kube-controller-manager /healthz",
      timeoutMs,
      async () => {
        const r = await httpGet(`https://127.0.0.1:${kcmPort}/healthz`, { insecure: true });
        return r.status === 200 ? true : undefined;
      },
      [etcd, apiserver, kcm],
    );
    // Its controllers are working once the default ServiceAccount exists.
    await waitFor(
      "the controller manager to create ServiceAccount default/default",
      timeoutMs,
      async () => {
        const r = await httpGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, {
          token,
          ca,
        });
        return r.status === 200 ? true : undefined;
      },
      [etcd, apiserver, kcm],
    );
    log(`  kube-controller-manager ready (${Math.round((Date.now() - t0) / 100) / 10}s)`);
    return { dir, kubeconfigPath, server, token, ca, binaries, processes, stop };
  } catch (e) {
    if (e instanceof StartupError) process.stderr.write(`control plane failed: ${e.message}\n`);
    await stop();
    throw e;
  }
}

/** The control plane's kubectl with its kubeconfig, run from the repository root. */
export function runKubectl(
  cp: Pick<ControlPlane, "binaries" | "kubeconfigPath">,
  args: readonly string[],
  input?: string,
): Promise<CommandResult> {
  return runCommand(cp.binaries.kubectl, [`--kubeconfig=${cp.kubeconfigPath}`, ...args], {
    cwd: REPO_ROOT,
    input,
  });
}

export interface TestControlPlane {
  /** The running control plane (fails the test if it did not start). */
  plane(): ControlPlane;
  kubectl(...args: string[]): Promise<CommandResult>;
}

/**
 * For a test file: starts a control plane before its tests, then runs `setup` on it, and stops it
 * after them.
 */
export function controlPlaneForTests(
  setup: (cp: ControlPlane) => Promise<void> | void = () => {},
): TestControlPlane {
  let cp: ControlPlane | undefined;
  before(
    async () => {
      cp = await startControlPlane({ log: (l) => console.log(l) });
      await setup(cp);
    },
    // Builds the binaries first if `make cluster` has not; the apiserver alone needs up to a minute.
    { timeout: 20 * 60_000 },
  );
  after(
    async () => {
      await cp?.stop();
    },
    { timeout: 60_000 },
  );
  const plane = () => {
    assert.ok(cp, "the control plane did not start");
    return cp;
  };
  return { plane, kubectl: (...args) => runKubectl(plane(), args) };
}

// ---------------------------------------------------------------------------------------------
// Hook server

export interface HookServerOptions {
  /** The hook never calls the API; passed as KUBECONFIG only so the process sees the same cluster. */
  kubeconfig?: string;
  configFile: string;
  /** Default: a free port. */
  port?: number;
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
  if (ownDir && !opts.persistent) {
    installExitHandlers();
    liveDirs.add(dir);
  }
  const logFile = path.join(dir, "hook-server.log");
  const removeDir = () => {
    if (!ownDir) return;
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
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
      LOG_LEVEL: "warn",
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
        async () => ((await httpGet(`${url}/readyz`)).status === 200 ? true : undefined),
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
