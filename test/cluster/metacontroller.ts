// Metacontroller as a separate process against the local control plane, and the shipped
// DecoratorController pointed at a local hook server.
//
// Metacontroller runs out of cluster with the admin kubeconfig, after its CRDs are Established,
// with a 1 s discovery interval (so a CRD installed later is seen at once), metrics and health
// probes on 127.0.0.1 free ports (its defaults bind every interface on fixed ports) and a tuned
// client QPS. The DecoratorController is the package's, rendered by Kustomize with the chosen
// components, with only the webhook targets replaced by loopback URLs.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadAll } from "js-yaml";
import { freePort, request } from "../support/net.ts";
import { metacontrollerCRDs, REPO_ROOT } from "./build.ts";
import { applyCRDs, type ControlPlane, runKubectl } from "./control-plane.ts";
import type { Json, KubeObject } from "./kube.ts";
import {
  type ManagedProcess,
  StartupError,
  spawnDetached,
  stopProcessGroup,
  waitFor,
} from "./processes.ts";

const PKG_DIR = path.join(REPO_ROOT, "metacontroller");

export interface MetacontrollerOptions {
  /** --client-go-qps (default 50; Metacontroller's own default is 5). */
  qps?: number;
  /** --client-go-burst (default 2 x qps). */
  burst?: number;
  /** --workers (Metacontroller's default 5). */
  workers?: number;
  /** Where its log goes (default: the control plane's directory). */
  dir?: string;
  persistent?: boolean;
  timeoutMs?: number;
}

export interface Metacontroller {
  process: ManagedProcess;
  logFile: string;
  /** http://127.0.0.1:<port>/metrics */
  metricsUrl: string;
  args: string[];
  stop(): Promise<void>;
}

/** Applies Metacontroller's CRDs (from its source tree's manifests/production) and waits. */
export function installMetacontrollerCRDs(cp: ControlPlane): Promise<string[]> {
  return applyCRDs(cp, [metacontrollerCRDs()]);
}

/**
 * Starts Metacontroller against `cp` once its CRDs are Established (they are applied first; doing
 * it again is harmless) and waits for its readiness probe.
 */
export async function startMetacontroller(
  cp: ControlPlane,
  opts: MetacontrollerOptions = {},
): Promise<Metacontroller> {
  await installMetacontrollerCRDs(cp);
  const qps = opts.qps ?? 50;
  const dir = opts.dir ?? cp.dir;
  const logFile = path.join(dir, "metacontroller.log");
  // A free port can be taken between the probe and the listen: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [metricsPort, healthPort] = [await freePort(), await freePort()];
    const args = [
      "--discovery-interval=1s",
      `--metrics-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
      `--client-go-qps=${qps}`,
      `--client-go-burst=${opts.burst ?? qps * 2}`,
      `--workers=${opts.workers ?? 5}`,
    ];
    const proc = await spawnDetached("metacontroller", cp.binaries.metacontroller, args, {
      logFile,
      env: { ...process.env, KUBECONFIG: cp.kubeconfigPath },
      persistent: opts.persistent,
    });
    if (!opts.persistent) cp.track(proc);
    try {
      await waitFor(
        "metacontroller /readyz",
        opts.timeoutMs ?? 60_000,
        async () =>
          (await request(healthPort, "/readyz", { timeoutMs: 3_000 })).status === 200
            ? true
            : undefined,
        [proc],
      );
      return {
        process: proc,
        logFile,
        metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
        args,
        stop: () => stopProcessGroup(proc.pid),
      };
    } catch (e) {
      lastError = e;
      await stopProcessGroup(proc.pid);
    }
  }
  if (lastError instanceof StartupError) process.stderr.write(`${lastError.message}\n`);
  throw lastError;
}

// ---------------------------------------------------------------------------------------------
// The DecoratorController

/**
 * Runs `fn` on a temporary overlay of the package with `components` (outside the package:
 * Kustomize refuses cycles and absolute paths).
 */
export async function withOverlay<T>(
  components: readonly string[],
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kes-overlay-"));
  try {
    const rel = (p: string) => path.relative(dir, p).split(path.sep).join("/");
    const doc = {
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      resources: [rel(PKG_DIR)],
      components: components.map((c) => rel(path.join(PKG_DIR, "components", c))),
    };
    await writeFile(path.join(dir, "kustomization.yaml"), JSON.stringify(doc, null, 2));
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `kubectl kustomize` of the package with `components`. */
export function renderPackage(
  cp: Pick<ControlPlane, "binaries" | "kubeconfigPath">,
  components: readonly string[],
): Promise<KubeObject[]> {
  return withOverlay(components, async (dir) => {
    const r = await runKubectl(cp, ["kustomize", dir]);
    if (r.code !== 0) throw new Error(`kubectl kustomize: ${r.stderr}`);
    return loadAll(r.stdout) as KubeObject[];
  });
}

interface Webhook {
  url?: string;
  service?: Json;
  path?: string;
  [k: string]: Json | undefined;
}

/**
 * `dc` with its hooks calling `hookUrl` instead of the in-cluster Service: each webhook's `service`
 * and `path` become one `url`; nothing else changes. Pods never run on this control plane, so this
 * is how the hook server, a local process, serves an installed controller.
 */
export function pointWebhooksAt(dc: KubeObject, hookUrl: string): KubeObject {
  const out = structuredClone(dc);
  const hooks = (out.spec as { hooks: Record<string, { webhook: Webhook }> }).hooks;
  for (const hook of Object.values(hooks)) {
    const { service: _service, path: hookPath, ...rest } = hook.webhook;
    hook.webhook = { ...rest, url: `${hookUrl}${hookPath ?? ""}` };
  }
  return out;
}

/** The package's DecoratorController (with `components`) with its webhooks on `hookUrl`. */
export async function loopbackDecoratorController(
  cp: Pick<ControlPlane, "binaries" | "kubeconfigPath">,
  hookUrl: string,
  components: readonly string[] = [],
): Promise<KubeObject> {
  const docs = await renderPackage(cp, components);
  const dc = docs.find((d) => d.kind === "DecoratorController");
  if (!dc) throw new Error("the package has no DecoratorController");
  return pointWebhooksAt(dc, hookUrl);
}

/** Applies (creates or updates) `dc` with kubectl. */
export async function applyDecoratorController(cp: ControlPlane, dc: KubeObject): Promise<void> {
  const r = await runKubectl(cp, ["apply", "-f", "-"], JSON.stringify(dc));
  if (r.code !== 0) throw new Error(`kubectl apply of the DecoratorController: ${r.stderr}`);
}
