// The product on a local control plane, for a human to look at.
//
//   node test/cluster/demo.ts up     (make demo)   start etcd, kube-apiserver,
//                                    kube-controller-manager and the hook server in the
//                                    background, apply examples/, show what the hook computes
//   node test/cluster/demo.ts down   (make stop)   stop all of it and remove its files
//
// State (pids, directories) lives in $CACHE_DIR/demo/. `up` stops a previous demo first.
//
// Metacontroller cannot be built here (the Go module proxy answers 403 for
// github.com/metacontroller/metacontroller), so nothing applies the hook's answers: the demo shows
// the mirrors the hook computes from the live objects, validated by the API server with a dry run.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { load, loadAll } from "js-yaml";
import { cacheDir, elapsed, ensureBinaries, REPO_ROOT } from "./build.ts";
import {
  type ManagedProcess,
  processStartTime,
  startControlPlane,
  startHookServer,
  stopProcessGroup,
} from "./harness.ts";
import {
  applyExampleSources,
  dryRunEach,
  EXAMPLE_SOURCES,
  STATUS_ANNOTATION,
  statusAnnotation,
} from "./hook-requests.ts";
import {
  buildSyncRequest,
  describeMirror,
  type Json,
  KubeClient,
  type KubeObject,
  postJson,
  type SyncResponse,
} from "./kube.ts";

const DEMO_DIR = path.join(cacheDir(), "demo");
const STATE_FILE = path.join(DEMO_DIR, "state.json");

interface RecordedProcess {
  name: string;
  pid: number;
  startTime: string | undefined;
}

interface DemoState {
  dir?: string;
  processes: RecordedProcess[];
  kubeconfigPath?: string;
  kubectl?: string;
  server?: string;
  hookUrl?: string;
}

function readState(): DemoState | undefined {
  try {
    return JSON.parse(readFileSync(STATE_FILE, "utf8")) as DemoState;
  } catch {
    return undefined;
  }
}

/** Synchronous, so that records made from callbacks can never interleave. */
function saveState(state: DemoState): void {
  mkdirSync(DEMO_DIR, { recursive: true });
  const tmp = `${STATE_FILE}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, STATE_FILE);
}

function record(state: DemoState, p: ManagedProcess): void {
  state.processes.push({ name: p.name, pid: p.pid, startTime: p.startTime });
}

/** Processes whose command line names the demo directory (etcd, apiserver, controller manager),
 * in case the state file was lost. */
function strayProcesses(): RecordedProcess[] {
  const out: RecordedProcess[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${e}/cmdline`, "utf8");
      if (cmdline.includes(`${DEMO_DIR}/kes-cluster-`)) {
        const pid = Number(e);
        out.push({ name: cmdline.split("\0")[0] ?? e, pid, startTime: processStartTime(pid) });
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function down(announce = true): Promise<void> {
  const state = readState();
  const say = (l: string) => {
    if (announce) console.log(l);
  };
  if (!state) say("no demo state recorded");
  for (const p of [...(state?.processes ?? [])].reverse()) {
    await stopProcessGroup(p.pid, { startTime: p.startTime });
    say(`  stopped ${p.name} (pid ${p.pid})`);
  }
  for (const p of strayProcesses()) {
    await stopProcessGroup(p.pid, { startTime: p.startTime });
    say(`  stopped stray ${p.name} (pid ${p.pid})`);
  }
  // The run directories live under DEMO_DIR; remove all of them, recorded or not.
  try {
    for (const e of readdirSync(DEMO_DIR)) {
      if (e.startsWith("kes-cluster-")) {
        rmSync(path.join(DEMO_DIR, e), { recursive: true, force: true, maxRetries: 5 });
      }
    }
  } catch {
    // no demo directory
  }
  await rm(STATE_FILE, { force: true });
  if (state) say("demo stopped");
}

/** Stops what `up` started so far, synchronously enough for a signal handler. */
function killNow(state: DemoState): void {
  for (const p of state.processes) {
    try {
      process.kill(-p.pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  if (state.dir) rmSync(state.dir, { recursive: true, force: true, maxRetries: 5 });
  rmSync(STATE_FILE, { force: true });
}

async function up(): Promise<void> {
  const t0 = Date.now();
  if (readState() || strayProcesses().length > 0) {
    console.log("==> stopping the previous demo");
    await down();
  }
  console.log("==> binaries");
  const binaries = await ensureBinaries();

  const state: DemoState = { processes: [] };
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: stopping what was started`);
    killNow(state);
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    console.log("==> control plane (etcd, kube-apiserver, kube-controller-manager)");
    const cp = await startControlPlane({
      binaries,
      baseDir: DEMO_DIR,
      persistent: true,
      log: (l) => console.log(l),
      onSpawn: (dir, p) => {
        state.dir = dir;
        record(state, p);
        // Recorded before it is ready, so `make stop` finds it even if `up` is interrupted.
        saveState(state);
      },
    });
    Object.assign(state, {
      kubeconfigPath: cp.kubeconfigPath,
      kubectl: binaries.kubectl,
      server: cp.server,
    });
    saveState(state);

    console.log("==> hook server");
    const configFile = path.join(REPO_ROOT, "examples", "config.yaml");
    const hook = await startHookServer({
      kubeconfig: cp.kubeconfigPath,
      configFile,
      dir: cp.dir,
      persistent: true,
    });
    record(state, hook.process);
    state.hookUrl = hook.url;
    saveState(state);
    console.log(`  listening on ${hook.url} (CONFIG_FILE=examples/config.yaml)`);

    console.log(`==> kubectl apply ${EXAMPLE_SOURCES.map((f) => `-f ${f}`).join(" ")}`);
    const applied = await applyExampleSources(cp);
    process.stdout.write(`${applied.stdout.trimEnd().replace(/^/gm, "  ")}\n`);
    if (applied.code !== 0) throw new Error(`kubectl apply failed:\n${applied.stderr}`);

    const client = new KubeClient(cp);
    const controller = load(
      await readFile(path.join(REPO_ROOT, "metacontroller", "decoratorcontroller.yaml"), "utf8"),
    ) as Json;
    const features = (
      loadAll(
        await readFile(path.join(REPO_ROOT, "examples", "feature-namespaces.yaml"), "utf8"),
      ) as KubeObject[]
    ).filter((d) => d.kind === "Namespace");
    let rejected = 0;
    for (const ns of features) {
      const name = ns.metadata.name;
      console.log(`==> ${name}: mirrors the hook computes from the live objects (dry-run verdict)`);
      const request = await buildSyncRequest(client, controller, name, ["develop", name]);
      const res = await postJson(`${hook.url}/sync`, request);
      if (res.status !== 200) {
        console.log(`  the hook answered ${res.status}: ${JSON.stringify(res.json)}`);
        rejected++;
        continue;
      }
      const answer = res.json as unknown as SyncResponse;
      const verdicts = await dryRunEach(answer.attachments, (obj) => client.dryRunCreate(obj));
      for (const { obj, response: r, accepted } of verdicts) {
        if (accepted) {
          console.log(`  valid     ${describeMirror(obj)}`);
        } else {
          rejected++;
          console.log(`  REJECTED  ${describeMirror(obj)}: ${r.status} ${r.warnings.join("; ")}`);
          console.log(`            ${JSON.stringify(r.body)}`);
        }
      }
      if (answer.attachments.length === 0) console.log("  (none)");
      console.log(
        `  status annotation: ${STATUS_ANNOTATION}=${statusAnnotation(answer) ?? "(none)"}`,
      );
    }

    console.log(`
NOTE: Metacontroller could not be built here: the Go module proxy answers 403 "This module version
is not available" for github.com/metacontroller/metacontroller. So the mirrors above are computed
by the real hook server from live objects and validated by the API server (dry run), but NOT
applied: \`get svc -A\` shows the sources, not the mirrors.

Running in the background (ready in ${elapsed(t0)}):
  kube-apiserver   ${cp.server}
  hook server      ${hook.url}   (log ${hook.logFile})
  kubeconfig       ${cp.kubeconfigPath}
  kubectl          ${binaries.kubectl}

Try:
  ${binaries.kubectl} --kubeconfig ${cp.kubeconfigPath} get ns,svc,ingress -A
  ${binaries.kubectl} --kubeconfig ${cp.kubeconfigPath} apply -k metacontroller/ --dry-run=server
  curl -s -H 'content-type: application/json' --data @examples/sync-request.json ${hook.url}/sync

Stop everything with: make stop`);
    if (rejected > 0) {
      console.error(`${rejected} mirror(s) were rejected or could not be computed`);
      process.exitCode = 1;
    }
  } catch (e) {
    console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
    console.error("stopping what was started");
    await down(false);
    process.exitCode = 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function main(): Promise<void> {
  const cmd = process.argv[2];
  if (cmd === "up") await up();
  else if (cmd === "down") await down();
  else {
    console.error("usage: node test/cluster/demo.ts up|down");
    process.exitCode = 2;
  }
}

await main();
