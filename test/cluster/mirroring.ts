// The product on a control plane, as the end-to-end suites run it: the hook server as a local
// process with a given configuration, Metacontroller, and the package's DecoratorController (with
// the chosen components) pointed at the hook.

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { dump } from "js-yaml";
import { applyCRDs, type ControlPlane, controlPlaneForTests } from "./control-plane.ts";
import { type HookServer, startHookServer } from "./hook-server.ts";
import { KubeClient, type KubeObject, resourcePath } from "./kube.ts";
import {
  applyDecoratorController,
  loopbackDecoratorController,
  type Metacontroller,
  startMetacontroller,
} from "./metacontroller.ts";
import { suiteObjects } from "./objects.ts";
import type { ManagedProcess } from "./processes.ts";

export interface MirroringOptions {
  /** The hook's configuration, written to hook-config.yaml in the control plane's directory. */
  config: Record<string, unknown>;
  /** Components of the package (metacontroller/components) the DecoratorController has. */
  components?: readonly string[];
  /** CRD files of the attachment kinds: served before Metacontroller starts the controller. */
  crds?: readonly string[];
  /** The hook server's LOG_LEVEL (default `warn`). */
  hookLogLevel?: string;
  /** Namespaces created once everything runs. */
  namespaces?: readonly string[];
}

export interface Mirroring {
  /** The hook's configuration file (a restarted hook server reads it again). */
  configFile: string;
  hook: HookServer;
  metacontroller: Metacontroller;
  /** The DecoratorController as applied. */
  controller: KubeObject;
}

/**
 * The hook's configuration of the examples (examples/config.yaml) with `sourceNamespaces`: every
 * other namespace but the system ones is a branch, in the domain `*.example.com`.
 */
export function branchConfig(sourceNamespaces: readonly string[]): Record<string, unknown> {
  return {
    sourceNamespaces,
    excludeNamespaces: ["kube-system", "kube-public", "kube-node-lease", "metacontroller"],
    defaultTopLevelDomain: "*.example.com",
  };
}

/** Metacontroller's client rate in the suites: its own default (5 QPS) is slow for 50 namespaces. */
export const SUITE_METACONTROLLER = { qps: 50, burst: 100 };

/**
 * Starts the hook server and Metacontroller on `cp` (both stopped with it) and applies the
 * DecoratorController; then creates `namespaces`.
 */
export async function startMirroring(cp: ControlPlane, opts: MirroringOptions): Promise<Mirroring> {
  if (opts.crds !== undefined) await applyCRDs(cp, opts.crds);
  const configFile = path.join(cp.dir, "hook-config.yaml");
  await writeFile(configFile, dump(opts.config));
  const hook = await startHookServer({ configFile, dir: cp.dir, logLevel: opts.hookLogLevel });
  cp.track(hook.process);
  const metacontroller = await startMetacontroller(cp, SUITE_METACONTROLLER);
  const controller = await loopbackDecoratorController(cp, hook.url, opts.components);
  await applyDecoratorController(cp, controller);
  const client = new KubeClient(cp);
  for (const name of opts.namespaces ?? []) {
    const r = await client.request("POST", resourcePath("v1", "namespaces"), {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name },
    });
    assert.equal(r.status, 201, `create namespace ${name}: ${JSON.stringify(r.body)}`);
  }
  return { configFile, hook, metacontroller, controller };
}

/** What runs for an end-to-end suite: its control plane, a client of it, and the product. */
export interface StartedSuite extends Mirroring {
  cp: ControlPlane;
  client: KubeClient;
}

export interface MirroringSuiteOptions {
  /** Source namespaces besides `develop`, created before the tests. */
  sources: readonly string[];
  /** How long a mirror may take to appear or go. */
  convergeMs: number;
  /** Receives what runs, before the suite's tests. */
  started: (suite: StartedSuite) => void;
  /** The processes whose death fails a wait at once (a suite may restart Metacontroller). */
  watch: () => readonly ManagedProcess[];
}

/**
 * An end-to-end suite of the product: before its tests, a control plane of its own with the hook
 * mirroring from `develop` and `sources` (branchConfig). Returns kubectl and the suite's requests
 * and waits (objects.ts).
 */
export function mirroringSuite(opts: MirroringSuiteOptions) {
  let client: KubeClient | undefined;
  const { kubectl } = controlPlaneForTests(async (cp) => {
    client = new KubeClient(cp);
    const mirroring = await startMirroring(cp, {
      config: branchConfig(["develop", ...opts.sources]),
      namespaces: opts.sources,
    });
    opts.started({ cp, client, ...mirroring });
  });
  const objects = suiteObjects({
    client: () => {
      assert.ok(client, "the suite's control plane did not start");
      return client;
    },
    convergeMs: opts.convergeMs,
    watch: opts.watch,
  });
  return { kubectl, ...objects };
}
