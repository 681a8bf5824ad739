// The product on a local control plane, for a human to look at.
//
//   node test/cluster/demo.ts up     (make demo)   start etcd, kube-apiserver,
//                                    kube-controller-manager, the hook server and Metacontroller
//                                    in the background, apply the DecoratorController (webhooks
//                                    pointed at the local hook server) and examples/, wait for
//                                    Metacontroller to apply the mirrors, and show them
//   node test/cluster/demo.ts down   (make stop)   stop all of it and remove its files
//
// State (pids, directories) lives in $CACHE_DIR/demo/. `up` stops a previous demo first.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { loadAll } from "js-yaml";
import { cacheDir, elapsed, ensureBinaries, REPO_ROOT } from "./build.ts";
import { runKubectl, startControlPlane } from "./control-plane.ts";
import { applyExampleSources, EXAMPLE_SOURCES, STATUS_ANNOTATION } from "./hook-requests.ts";
import { startHookServer } from "./hook-server.ts";
import { describeMirror, KubeClient, type KubeObject, ownedBy, resourcePath } from "./kube.ts";
import {
  applyDecoratorController,
  loopbackDecoratorController,
  startMetacontroller,
} from "./metacontroller.ts";
import { type ManagedProcess, processStartTime, stopProcessGroup, waitFor } from "./processes.ts";

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

/** Processes whose command line or environment names the demo directory (etcd, apiserver,
 * controller manager, Metacontroller), in case the state file was lost. */
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
      const environ = readFileSync(`/proc/${e}/environ`, "utf8");
      if (`${cmdline}\0${environ}`.includes(`${DEMO_DIR}/kes-cluster-`)) {
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

/**
 * The mirrors Metacontroller applied in `namespace` once they are all there: the namespace's
 * status annotation (written by Metacontroller from the hook's answer) counts the desired ones.
 */
async function appliedMirrors(
  client: KubeClient,
  namespace: string,
): Promise<KubeObject[] | undefined> {
  const ns = await client.get(resourcePath("v1", "namespaces", undefined, namespace));
  const statusText = ns.metadata.annotations?.[STATUS_ANNOTATION];
  if (!statusText) return undefined;
  const wanted = Object.values(
    (JSON.parse(statusText) as { mirrors: Record<string, number> }).mirrors,
  ).reduce((a, b) => a + b, 0);
  const mirrors: KubeObject[] = [];
  for (const [apiVersion, kind, resource] of [
    ["v1", "Service", "services"],
    ["networking.k8s.io/v1", "Ingress", "ingresses"],
  ] as const) {
    for (const o of await client.list(apiVersion, kind, resource, namespace)) {
      if (ownedBy(o, ns.metadata.uid as string)) mirrors.push(o);
    }
  }
  return mirrors.length === wanted ? mirrors : undefined;
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

    console.log("==> metacontroller (its CRDs first)");
    const metacontroller = await startMetacontroller(cp, { persistent: true });
    record(state, metacontroller.process);
    saveState(state);
    console.log(`  running: ${binaries.metacontroller} ${metacontroller.args.join(" ")}`);
    console.log(`  log ${metacontroller.logFile}`);

    console.log("==> DecoratorController kube-external-sync (webhooks -> the local hook server)");
    await applyDecoratorController(cp, await loopbackDecoratorController(cp, hook.url));

    console.log(`==> kubectl apply ${EXAMPLE_SOURCES.map((f) => `-f ${f}`).join(" ")}`);
    const applied = await applyExampleSources(cp);
    process.stdout.write(`${applied.stdout.trimEnd().replace(/^/gm, "  ")}\n`);
    if (applied.code !== 0) throw new Error(`kubectl apply failed:\n${applied.stderr}`);

    const client = new KubeClient(cp);
    const features = (
      loadAll(
        await readFile(path.join(REPO_ROOT, "examples", "feature-namespaces.yaml"), "utf8"),
      ) as KubeObject[]
    ).filter((d) => d.kind === "Namespace");
    console.log("==> waiting for Metacontroller to apply the mirrors");
    for (const ns of features) {
      const name = ns.metadata.name;
      const mirrors = await waitFor(
        `the mirrors in ${name}`,
        120_000,
        () => appliedMirrors(client, name),
        [metacontroller.process, hook.process],
      );
      console.log(`  ${name} (${elapsed(t0)}):`);
      for (const m of mirrors) console.log(`    ${describeMirror(m)}`);
    }

    const get = await runKubectl(cp, ["get", "svc,ingress", "-A"]);
    const statuses = await runKubectl(cp, [
      "get",
      "ns",
      "-o",
      `custom-columns=NAMESPACE:.metadata.name,STATUS:.metadata.annotations.kube-external-sync\\.io/status`,
    ]);
    const kubectl = `${binaries.kubectl} --kubeconfig ${cp.kubeconfigPath}`;
    console.log(`
Running in the background (ready in ${elapsed(t0)}):
  kube-apiserver   ${cp.server}
  hook server      ${hook.url}   (log ${hook.logFile})
  metacontroller   log ${metacontroller.logFile}
  kubeconfig       ${cp.kubeconfigPath}

Try (mirrors follow within a second or two):
  export KUBECONFIG=${cp.kubeconfigPath}; alias kubectl=${binaries.kubectl}
  kubectl create namespace feature-search                      # matches replicate-to feature-.*
  kubectl create namespace qa && kubectl label namespace qa kube-external-sync.io/branch=true
  kubectl annotate -n develop svc postgres kube-external-sync.io/replicate-to=qa --overwrite
  kubectl annotate namespace feature-login kube-external-sync.io/skip=postgres
  kubectl get svc,ingress -A -l app.kubernetes.io/managed-by=kube-external-sync -w
  kubectl get ns feature-login -o jsonpath='{.metadata.annotations.kube-external-sync\\.io/status}'

Stop everything with: make stop

Namespace status (${STATUS_ANNOTATION}):
${statuses.stdout.trimEnd()}

$ ${kubectl} get svc,ingress -A
${get.stdout.trimEnd()}`);
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
