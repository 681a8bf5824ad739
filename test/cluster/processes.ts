// Processes the cluster tests, the demo and the benchmark run: spawned detached, each in its own
// process group, logging to a file. stopProcessGroup() sends SIGTERM to the group, SIGKILL after a
// timeout. Unless `persistent` is set (the demo), 'exit', SIGINT, SIGTERM and SIGHUP handlers kill
// whatever is still running and remove the tracked directories, so a failed or interrupted test
// leaves nothing behind. Also the polling wait of the cluster code (free ports and HTTP requests
// come from test/support/net.ts).

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { REPO_ROOT } from "./build.ts";

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

/** Removes `dir` if this process exits before untrackDir(dir). */
export function trackDir(dir: string): void {
  installExitHandlers();
  liveDirs.add(dir);
}

export function untrackDir(dir: string): void {
  liveDirs.delete(dir);
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

export interface SpawnOptions {
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  persistent?: boolean;
}

export async function spawnDetached(
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
