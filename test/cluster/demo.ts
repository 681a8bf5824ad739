// The product on a local control plane, for a human to look at.
//
//   node test/cluster/demo.ts up     (make demo)   start etcd, kube-apiserver,
//                                    kube-controller-manager, the hook server and Metacontroller
//                                    in the background, apply the DecoratorController (webhooks
//                                    pointed at the local hook server) and examples/, wait until
//                                    Metacontroller labelled each example namespace with its
//                                    state, and show the mirrors, states, hosts, statuses and what
//                                    to try
//   node test/cluster/demo.ts down   (make stop)   stop all of it and remove its files
//
// State (pids, directories) lives in $CACHE_DIR/demo/. `up` stops a previous demo first.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { loadAll } from "js-yaml";
import { Annotation, Label, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../../lib/constants.ts";
import { cacheDir, elapsed, ensureBinaries, REPO_ROOT } from "./build.ts";
import { runKubectl, startControlPlane } from "./control-plane.ts";
import { applyExampleSources, EXAMPLE_SOURCES } from "./hook-requests.ts";
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

interface SettledNamespace {
  namespace: KubeObject;
  /** The mirrors Metacontroller applied there (owned by the namespace). */
  mirrors: KubeObject[];
}

/**
 * The namespace once Metacontroller wrote its state label (README, Status at a glance): `Synced`
 * only once every mirror it should have is in place, `Degraded` as soon as a problem is reported.
 */
async function settled(client: KubeClient, name: string): Promise<SettledNamespace | undefined> {
  const namespace = await client.get(resourcePath("v1", "namespaces", undefined, name));
  if (namespace.metadata.labels?.[Label.state] === undefined) return undefined;
  const mirrors: KubeObject[] = [];
  for (const [apiVersion, kind, resource] of [
    ["v1", "Service", "services"],
    ["networking.k8s.io/v1", "Ingress", "ingresses"],
  ] as const) {
    for (const o of await client.list(apiVersion, kind, resource, name)) {
      if (ownedBy(o, namespace.metadata.uid as string)) mirrors.push(o);
    }
  }
  return { namespace, mirrors };
}

/** `kubectl <args>` as a person would type it (KUBECONFIG set), then its output. */
async function shown(cp: Parameters<typeof runKubectl>[0], args: string[]): Promise<string> {
  const r = await runKubectl(cp, args);
  const quoted = args.map((a) => (/[{}\\*'"]/.test(a) ? `'${a.replaceAll("'", "'\\''")}'` : a));
  const out = `${r.stdout}${r.stderr}`.trimEnd();
  return `$ kubectl ${quoted.join(" ")}\n${out}`;
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
    console.log(
      `==> waiting for Metacontroller to apply the mirrors and label each namespace (${Label.state})`,
    );
    for (const ns of features) {
      const name = ns.metadata.name;
      const { namespace, mirrors } = await waitFor(
        `the state label on ${name}`,
        120_000,
        () => settled(client, name),
        [metacontroller.process, hook.process],
      );
      console.log(`  ${name}: ${namespace.metadata.labels?.[Label.state]} (${elapsed(t0)})`);
      for (const m of mirrors) console.log(`    ${describeMirror(m)}`);
    }

    const namespaceKeys = String.raw`{.metadata.annotations.kube-external-sync\.io/`;
    // Every namespace's status, where it has one: the feature namespaces, or any other.
    const statusShown: string[] = [];
    const all = await client.request("GET", resourcePath("v1", "namespaces"));
    for (const ns of (all.body as unknown as { items: KubeObject[] }).items) {
      const name = ns.metadata.name;
      if (ns.metadata.annotations?.[Annotation.status] === undefined) continue;
      statusShown.push(
        await shown(cp, ["get", "ns", name, "-o", `jsonpath=${namespaceKeys}status}`]),
      );
    }
    const kubectl = `${binaries.kubectl} --kubeconfig ${cp.kubeconfigPath}`;
    console.log(`
Running in the background (ready in ${elapsed(t0)}):
  kube-apiserver   ${cp.server}
  hook server      ${hook.url}   (log ${hook.logFile})
  metacontroller   log ${metacontroller.logFile}
  kubeconfig       ${cp.kubeconfigPath}
  kubectl          ${kubectl}

The sources in develop, and the mirrors Metacontroller applied in the branch namespaces
(ExternalName Services, Ingresses with the branch's hosts; label ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}):
${await shown(cp, ["get", "svc,ingress", "-A"])}

Each namespace's state (absent: no mirror for it, or not in place yet):
${await shown(cp, ["get", "ns", "-L", Label.state])}

The preview hosts of each namespace's route mirrors:
${await shown(cp, ["get", "ns", "-o", String.raw`custom-columns=NAME:.metadata.name,HOSTS:.metadata.annotations.kube-external-sync\.io/hosts`])}

What needs a person, where there is something (a skip the namespace asked for is listed, and is
not a problem):
${statusShown.join("\n")}

The Ingress mirrors name the TLS Secret wildcard-example-com-tls (the source's tld-secret-name):
nothing serves traffic here, so the examples do not create it; in a cluster, create it in each
branch or mirror it from develop with the tls-secrets component (README, TLS Secret mirrors).

Try (mirrors follow within a second or two; a new namespace is Synced once they are in place):
  export KUBECONFIG=${cp.kubeconfigPath}; alias kubectl=${binaries.kubectl}
  kubectl get svc,ingress -A -l ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE} -w &   # watch them follow
  kubectl create namespace feature-search                      # matches replicate-to feature-.*
  kubectl wait ns/feature-search --for=jsonpath='{.metadata.labels.kube-external-sync\\.io/state}'=Synced --timeout=60s
  kubectl get ns feature-search -o jsonpath='${namespaceKeys}hosts}'
  kubectl create namespace qa && kubectl label namespace qa kube-external-sync.io/branch=true
  kubectl annotate -n develop svc postgres kube-external-sync.io/replicate-to=qa --overwrite
  kubectl annotate namespace feature-login kube-external-sync.io/skip=postgres
  kubectl create service clusterip redis -n feature-login --tcp=6379   # then make it a source:
  kubectl create service clusterip redis -n develop --tcp=6379
  kubectl annotate -n develop svc redis kube-external-sync.io/replicate-to='feature-.*'
  kubectl get ns -L ${Label.state}                  # feature-login: Degraded (Conflict on Service/redis)
  kubectl get ns feature-login -o jsonpath='${namespaceKeys}status}'
  kubectl delete service redis -n feature-login     # Synced again, and the redis mirror appears

Stop everything with: make stop`);
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
