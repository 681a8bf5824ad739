// A real, local Kubernetes control plane for tests, the demo and the benchmark: etcd,
// kube-apiserver and kube-controller-manager built by build.ts, on loopback, on free ports, in one
// temp directory. No scheduler, kubelet, kube-proxy or DNS: pods never run and Services do not
// route, which is all the mirrors need (Metacontroller applies them; nothing serves traffic).

import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import { dump, loadAll } from "js-yaml";
import { freePort, request } from "../support/net.ts";
import { type Binaries, ensureBinaries, REPO_ROOT } from "./build.ts";
import { type CommandResult, KubeClient, runCommand } from "./kube.ts";
import {
  type ManagedProcess,
  StartupError,
  spawnDetached,
  stopProcessGroup,
  trackDir,
  untrackDir,
  waitFor,
} from "./processes.ts";

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
  /** Stops `p` (before the control plane's own processes) when stop() runs. */
  track(p: ManagedProcess): void;
  stop(): Promise<void>;
}

const SERVICE_CIDR = "10.0.0.0/24";
/** A readiness probe that gets no answer within this long is retried. */
const PROBE_MS = 3_000;

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

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
  if (!opts.persistent) trackDir(dir);
  const processes: ManagedProcess[] = [];
  const started = (p: ManagedProcess) => {
    processes.push(p);
    opts.onSpawn?.(dir, p);
  };
  const track = (p: ManagedProcess) => {
    processes.push(p);
  };
  const stop = async () => {
    for (const p of [...processes].reverse()) {
      await stopProcessGroup(p.pid, { startTime: p.startTime });
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    untrackDir(dir);
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
        const r = await request(etcdClient, "/health", { timeoutMs: PROBE_MS });
        return r.status === 200 && /"health":\s*"true"/.test(r.text) ? true : undefined;
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
        const r = await request(apiPort, "/readyz", {
          headers: bearer(token),
          tls: { insecure: true },
          timeoutMs: PROBE_MS,
        });
        return r.status === 200 ? true : undefined;
      },
      [etcd, apiserver],
    );
    // The serving certificate the apiserver generated is self-signed and names 127.0.0.1: trust
    // it explicitly rather than skipping verification.
    const caFile = path.join(certDir, "apiserver.crt");
    const ca = await readFile(caFile, "utf8");
    const check = await request(apiPort, "/readyz", {
      headers: bearer(token),
      tls: { ca },
      timeoutMs: PROBE_MS,
    });
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
        const r = await request(kcmPort, "/healthz", {
          tls: { insecure: true },
          timeoutMs: PROBE_MS,
        });
        return r.status === 200 ? true : undefined;
      },
      [etcd, apiserver, kcm],
    );
    // Its controllers are working once the default ServiceAccount exists.
    await waitFor(
      "the controller manager to create ServiceAccount default/default",
      timeoutMs,
      async () => {
        const r = await request(apiPort, "/api/v1/namespaces/default/serviceaccounts/default", {
          headers: bearer(token),
          tls: { ca },
          timeoutMs: PROBE_MS,
        });
        return r.status === 200 ? true : undefined;
      },
      [etcd, apiserver, kcm],
    );
    log(`  kube-controller-manager ready (${Math.round((Date.now() - t0) / 100) / 10}s)`);
    return { dir, kubeconfigPath, server, token, ca, binaries, processes, track, stop };
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
// CRDs

interface CrdView {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[] };
}

/**
 * Applies the CRDs in `files` (server-side: the Gateway API CRDs are too large for kubectl's
 * last-applied annotation) and waits until each is Established. Returns their names, sorted.
 */
export async function applyCRDs(cp: ControlPlane, files: readonly string[]): Promise<string[]> {
  const applied = await runKubectl(cp, [
    "apply",
    "--server-side",
    ...files.flatMap((f) => ["-f", f]),
  ]);
  if (applied.code !== 0)
    throw new Error(`kubectl apply of ${files.join(", ")}:\n${applied.stderr}`);
  const names: string[] = [];
  for (const f of files) {
    for (const d of loadAll(await readFile(f, "utf8")) as (CrdView | null)[]) {
      if (d) names.push(d.metadata.name);
    }
  }
  const client = new KubeClient(cp);
  for (const name of names) {
    await waitFor(`CRD ${name} to be Established`, 60_000, async () => {
      const crd = (await client.get(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      )) as unknown as CrdView;
      const established = crd.status?.conditions?.some(
        (c) => c.type === "Established" && c.status === "True",
      );
      return established ? true : undefined;
    });
  }
  return names.sort();
}

// ---------------------------------------------------------------------------------------------
// API server request counts

/** `apiserver_request_total` summed by verb and resource (and group), e.g. "PATCH services"; every response code unless `successOnly`. */
export type RequestCounts = Map<string, number>;

/** Reads the API server's request counters from its /metrics endpoint. */
export async function apiRequestCounts(
  cp: ControlPlane,
  options: { successOnly?: boolean } = {},
): Promise<RequestCounts> {
  const r = await request(Number(new URL(cp.server).port), "/metrics", {
    headers: bearer(cp.token),
    tls: { ca: cp.ca },
    timeoutMs: 30_000,
  });
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status}`);
  const counts: RequestCounts = new Map();
  for (const line of r.text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const labels = line.slice(line.indexOf("{") + 1, line.lastIndexOf("}"));
    const value = Number(line.slice(line.lastIndexOf("}") + 1).trim());
    const label = (name: string) => new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1] ?? "";
    // A failed request (a 409 conflict that the client retries) used the client's QPS but wrote
    // nothing: benchmarks count it, tests of what was written may not.
    if (options.successOnly && !label("code").startsWith("2")) continue;
    const group = label("group");
    const key = `${label("verb")} ${label("resource")}${group ? `.${group}` : ""}`;
    counts.set(key, (counts.get(key) ?? 0) + value);
  }
  return counts;
}

/** What changed between two readings, without the zero entries. */
export function requestsBetween(before: RequestCounts, after: RequestCounts): RequestCounts {
  const out: RequestCounts = new Map();
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0);
    if (delta > 0) out.set(key, delta);
  }
  return out;
}

/** The writes among `counts` (create, update, patch, delete), optionally for some resources. */
export function writesOf(counts: RequestCounts, resources?: readonly string[]): number {
  let total = 0;
  for (const [key, value] of counts) {
    const [verb, resource] = key.split(" ");
    if (!["POST", "PUT", "PATCH", "DELETE", "APPLY"].includes(verb ?? "")) continue;
    if (resources && !resources.includes(resource ?? "")) continue;
    total += value;
  }
  return total;
}
