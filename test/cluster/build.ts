// Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kubectl) from the
// helper Go modules under test/cluster/go/, into $CACHE_DIR/bin/<key>/ where <key> is a short
// sha256 of the helper modules' go.mod and go.sum (plus the Go version and the build flags, so a
// change to either cannot reuse stale binaries). Cached binaries are reused; a second run costs
// nothing.
//
//   node test/cluster/build.ts      (what `make cluster` runs)
//
// It also tries the Metacontroller helper module. The Go module proxy refuses that module
// (403 "This module version is not available"), so the script prints a BLOCKED line with the exact
// command and the proxy's answer, and still exits 0 with what it could build.
//
// And it fetches the CRDs of the route kinds (ensureRouteCRDs): Traefik's traefik.io CRDs and the
// Gateway API standard CRDs, copied out of the module zips pinned by test/cluster/go/crds into
// $CACHE_DIR/crds/<key>/ (not committed). The Traefik v2 group (traefik.containo.us) has no source
// here: the proxy refuses github.com/traefik/traefik/v2 (403) and the v3 module ships only
// traefik.io CRDs, so that is another BLOCKED line.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  access,
  constants,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
} from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface Binaries {
  etcd: string;
  apiserver: string;
  controllerManager: string;
  kubectl: string;
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const GO_DIR = path.join(REPO_ROOT, "test", "cluster", "go");
const HEARTBEAT_MS = 30_000;

type HelperModule = "etcd" | "kubernetes";

interface Target {
  key: keyof Binaries;
  file: string;
  module: HelperModule;
  pkg: string;
}

const TARGETS: readonly Target[] = [
  { key: "etcd", file: "etcd", module: "etcd", pkg: "go.etcd.io/etcd/server/v3" },
  {
    key: "apiserver",
    file: "kube-apiserver",
    module: "kubernetes",
    pkg: "k8s.io/kubernetes/cmd/kube-apiserver",
  },
  {
    key: "controllerManager",
    file: "kube-controller-manager",
    module: "kubernetes",
    pkg: "k8s.io/kubernetes/cmd/kube-controller-manager",
  },
  { key: "kubectl", file: "kubectl", module: "kubernetes", pkg: "k8s.io/kubernetes/cmd/kubectl" },
];

/** `make` exports CACHE_DIR; the default matches the Makefile's. */
export function cacheDir(): string {
  if (process.env.CACHE_DIR) return path.resolve(process.env.CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "kube-external-sync");
}

export function elapsed(sinceMs: number): string {
  const s = Math.round((Date.now() - sinceMs) / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** For printing commands that can be pasted into a shell. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: readonly string[],
  opts: {
    cwd: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    onStderrLine?: (l: string) => void;
  },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: opts.timeoutMs,
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      if (!opts.onStderrLine) return;
      partial += d;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) opts.onStderrLine(l);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (partial && opts.onStderrLine) opts.onStderrLine(partial);
      resolve({ code, stdout, stderr });
    });
  });
}

async function goVersion(): Promise<string> {
  let res: RunResult;
  try {
    res = await run("go", ["env", "GOVERSION"], { cwd: REPO_ROOT });
  } catch {
    throw new Error("the `go` command is not on PATH (Go >= 1.26 is needed to build the cluster)");
  }
  if (res.code !== 0) throw new Error(`go env GOVERSION failed: ${res.stderr.trim()}`);
  return res.stdout.trim();
}

/** The published Kubernetes version pinned by the helper module, stamped into the binaries. */
async function kubernetesVersion(): Promise<string> {
  const gomod = await readFile(path.join(GO_DIR, "kubernetes", "go.mod"), "utf8");
  const m = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\b/m.exec(gomod);
  if (!m?.[1])
    throw new Error("test/cluster/go/kubernetes/go.mod does not require k8s.io/kubernetes");
  return m[1];
}

function buildFlags(module: HelperModule, k8sVersion: string): string[] {
  const flags = ["-trimpath", "-pgo=off"];
  if (module === "kubernetes") {
    // Without these, the binaries report v0.0.0-master (kubectl version, /version, skew warnings).
    const [, major, minor] = /^v(\d+)\.(\d+)/.exec(k8sVersion) ?? [];
    const x: string[] = [];
    for (const pkg of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
      x.push(
        `-X ${pkg}.gitVersion=${k8sVersion}`,
        `-X ${pkg}.gitMajor=${major}`,
        `-X ${pkg}.gitMinor=${minor}`,
        `-X ${pkg}.gitTreeState=clean`,
      );
    }
    flags.push(`-ldflags=-s -w ${x.join(" ")}`);
  } else {
    flags.push("-ldflags=-s -w");
  }
  return flags;
}

function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CGO_ENABLED: "0",
    GOWORK: "off",
    GOFLAGS: "-mod=readonly -buildvcs=false",
  };
}

async function cacheKey(goVer: string, k8sVersion: string): Promise<string> {
  const h = createHash("sha256");
  for (const module of ["etcd", "kubernetes"] as const) {
    for (const file of ["go.mod", "go.sum"]) {
      h.update(`${module}/${file}\0`);
      h.update(await readFile(path.join(GO_DIR, module, file)));
      h.update("\0");
    }
    h.update(`${module} flags: ${buildFlags(module, k8sVersion).join(" ")}\0`);
  }
  h.update(`CGO_ENABLED=0 ${goVer}\0`);
  return h.digest("hex").slice(0, 12);
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface EnsureOptions {
  /** Progress lines; default stdout. */
  log?: (line: string) => void;
}

/** Builds whatever is missing and returns the absolute paths of the four binaries. */
export async function ensureBinaries(opts: EnsureOptions = {}): Promise<Binaries> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const [goVer, k8sVersion] = await Promise.all([goVersion(), kubernetesVersion()]);
  const key = await cacheKey(goVer, k8sVersion);
  const binDir = path.join(cacheDir(), "bin", key);
  const paths = Object.fromEntries(
    TARGETS.map((t) => [t.key, path.join(binDir, t.file)]),
  ) as unknown as Binaries;

  const missing: Target[] = [];
  for (const t of TARGETS) if (!(await isExecutable(paths[t.key]))) missing.push(t);
  if (missing.length === 0) return paths;

  await mkdir(binDir, { recursive: true });
  log(`==> building ${missing.map((t) => t.file).join(", ")} into ${binDir} (${goVer})`);
  for (const module of ["etcd", "kubernetes"] as const) {
    const targets = missing.filter((t) => t.module === module);
    if (targets.length > 0) await buildModule(module, targets, binDir, k8sVersion, log);
  }
  return paths;
}

async function buildModule(
  module: HelperModule,
  targets: readonly Target[],
  binDir: string,
  k8sVersion: string,
  log: (line: string) => void,
): Promise<void> {
  const cwd = path.join(GO_DIR, module);
  const names = targets.map((t) => t.file).join(", ");
  // Build into a private directory, then rename: a concurrent or interrupted build never leaves a
  // half-written binary under its final name.
  const tmp = await mkdtemp(path.join(binDir, `.build-${module}-`));
  const out = targets.length === 1 ? path.join(tmp, targets[0]?.file ?? "") : `${tmp}/`;
  const args = [
    "build",
    ...buildFlags(module, k8sVersion),
    "-o",
    out,
    ...targets.map((t) => t.pkg),
  ];
  const started = Date.now();
  log(`  (cd test/cluster/go/${module} && CGO_ENABLED=0 go ${args.map(shellQuote).join(" ")})`);
  log(`  building ${names} ...`);
  const heartbeat = setInterval(
    () => log(`  ... still building ${names} (${elapsed(started)})`),
    HEARTBEAT_MS,
  );
  try {
    const res = await run("go", args, {
      cwd,
      env: goEnv(),
      onStderrLine: (l) => {
        // `go: downloading ...` lines are progress; compiler errors are printed below in full.
        if (l.startsWith("go: downloading")) log(`  ${l}`);
      },
    });
    if (res.code !== 0) {
      throw new Error(
        `go build of ${names} failed (exit ${res.code}) in test/cluster/go/${module}:\n${res.stderr}`,
      );
    }
    for (const t of targets) await rename(path.join(tmp, t.file), path.join(binDir, t.file));
    log(`  built ${names} in ${elapsed(started)}`);
  } finally {
    clearInterval(heartbeat);
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The answer of the Go module proxy for a module it has refused so far. */
export interface ModuleAttempt {
  available: boolean;
  command: string;
  answer: string;
}

/**
 * Asks the Go module proxy for the Metacontroller helper module. It has always answered 403 so far;
 * nothing here builds or imitates Metacontroller.
 */
export async function tryMetacontroller(): Promise<ModuleAttempt> {
  const cwd = path.join(GO_DIR, "metacontroller");
  const args = ["mod", "download", "-json", "metacontroller"];
  const command = `cd test/cluster/go/metacontroller && go ${args.join(" ")}`;
  const res = await run("go", args, { cwd, env: goEnv(), timeoutMs: 180_000 });
  let answer = res.stderr.trim();
  try {
    const doc = JSON.parse(res.stdout) as { Error?: string; Version?: string; Dir?: string };
    if (doc.Error) answer = doc.Error;
    else if (res.code === 0) answer = `downloaded ${doc.Version ?? "?"} into ${doc.Dir ?? "?"}`;
  } catch {
    // Not JSON (e.g. the go command itself failed): keep stderr.
  }
  return { available: res.code === 0, command, answer: answer.replace(/\s+/g, " ") };
}

// ---------------------------------------------------------------------------------------------
// CRDs of the route kinds

export interface RouteCRDs {
  /** traefik.io/v1alpha1 (IngressRoute, Middleware and the rest of Traefik v3's CRDs). */
  traefik: string[];
  /** gateway.networking.k8s.io: GatewayClass, Gateway, HTTPRoute, ReferenceGrant (standard). */
  gatewayApi: string[];
}

interface CrdSource {
  set: keyof RouteCRDs;
  module: string;
  /** Paths inside the module zip; copied under their base names. */
  files: readonly string[];
}

const CRD_SOURCES: readonly CrdSource[] = [
  {
    set: "traefik",
    module: "github.com/traefik/traefik/v3",
    files: ["docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"],
  },
  {
    set: "gatewayApi",
    module: "sigs.k8s.io/gateway-api",
    files: ["gatewayclasses", "gateways", "httproutes", "referencegrants"].map(
      (r) => `config/crd/standard/gateway.networking.k8s.io_${r}.yaml`,
    ),
  },
];

const CRDS_MODULE = path.join(GO_DIR, "crds");

/** `module version h1:...` and `module version/go.mod h1:...` lines of the helper's go.sum. */
function goSumEntries(gosum: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of gosum.split("\n")) {
    const [mod, version, hash] = line.trim().split(/\s+/);
    if (mod && version && hash) out.set(`${mod} ${version}`, hash);
  }
  return out;
}

function requiredVersion(gomod: string, module: string): string {
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const m = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, "m").exec(gomod);
  if (!m?.[1]) throw new Error(`test/cluster/go/crds/go.mod does not require ${module}`);
  return m[1];
}

interface ModDownload {
  Path?: string;
  Version?: string;
  Error?: string;
  Dir?: string;
  Sum?: string;
  GoModSum?: string;
}

/**
 * Downloads one pinned module (or finds it in the Go module cache) and returns its extracted
 * directory, after checking that the hashes the go command reports are the ones go.sum pins.
 */
async function downloadPinned(
  module: string,
  version: string,
  sums: Map<string, string>,
  log: (line: string) => void,
): Promise<string> {
  const wantSum = sums.get(`${module} ${version}`);
  const wantModSum = sums.get(`${module} ${version}/go.mod`);
  if (!wantSum || !wantModSum) {
    throw new Error(`test/cluster/go/crds/go.sum has no entries for ${module} ${version}`);
  }
  const args = ["mod", "download", "-json", module];
  log(`  (cd test/cluster/go/crds && go ${args.join(" ")})`);
  const res = await run("go", args, { cwd: CRDS_MODULE, env: goEnv(), timeoutMs: 600_000 });
  let doc: ModDownload;
  try {
    doc = JSON.parse(res.stdout) as ModDownload;
  } catch {
    throw new Error(`go mod download ${module} failed (exit ${res.code}): ${res.stderr.trim()}`);
  }
  if (doc.Error || !doc.Dir) throw new Error(`go mod download ${module}: ${doc.Error ?? "no Dir"}`);
  if (doc.Sum !== wantSum || doc.GoModSum !== wantModSum) {
    throw new Error(`${module}@${version}: hashes ${doc.Sum} ${doc.GoModSum} differ from go.sum`);
  }
  return doc.Dir;
}

async function allExist(files: readonly string[]): Promise<boolean> {
  for (const f of files) {
    try {
      await access(f);
    } catch {
      return false;
    }
  }
  return true;
}

async function crdsKey(gomod: Buffer, gosum: Buffer): Promise<string> {
  const h = createHash("sha256");
  h.update("go.mod\0").update(gomod).update("\0go.sum\0").update(gosum).update("\0");
  for (const s of CRD_SOURCES) h.update(`${s.set} ${s.module} ${s.files.join(" ")}\0`);
  return h.digest("hex").slice(0, 12);
}

/**
 * The CRD manifests of the route kinds, fetched into $CACHE_DIR/crds/<key>/ when missing (a
 * download of two pinned modules, or nothing when the Go module cache already holds them) and
 * returned as absolute file paths.
 */
export async function ensureRouteCRDs(opts: EnsureOptions = {}): Promise<RouteCRDs> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const [gomod, gosum] = await Promise.all([
    readFile(path.join(CRDS_MODULE, "go.mod")),
    readFile(path.join(CRDS_MODULE, "go.sum")),
  ]);
  const key = await crdsKey(gomod, gosum);
  const dir = path.join(cacheDir(), "crds", key);
  const result: RouteCRDs = { traefik: [], gatewayApi: [] };
  for (const s of CRD_SOURCES) {
    for (const f of s.files) result[s.set].push(path.join(dir, path.basename(f)));
  }
  const all = [...result.traefik, ...result.gatewayApi];
  if (await allExist(all)) return result;

  const started = Date.now();
  log(`  fetching into ${dir}`);
  const sums = goSumEntries(gosum.toString("utf8"));
  const gomodText = gomod.toString("utf8");
  await mkdir(path.dirname(dir), { recursive: true });
  // Copy into a private directory, then rename it into place: never a partial set under the key.
  const tmp = await mkdtemp(path.join(path.dirname(dir), `.fetch-${key}-`));
  try {
    for (const s of CRD_SOURCES) {
      const version = requiredVersion(gomodText, s.module);
      const moduleDir = await downloadPinned(s.module, version, sums, log);
      for (const f of s.files) {
        await copyFile(path.join(moduleDir, f), path.join(tmp, path.basename(f)));
        log(`  ${s.module}@${version}/${f}`);
      }
    }
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(tmp, dir);
    } catch (e) {
      // A concurrent fetch won the rename: its copy is identical.
      if (!(await allExist(all))) throw e;
    }
    log(`  fetched ${all.length} CRD files in ${elapsed(started)}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return result;
}

/**
 * Asks the Go module proxy for Traefik v2, the only source of the traefik.containo.us CRDs. It has
 * answered 403 so far. Run outside any module, so a success could not touch a go.sum.
 */
export async function tryTraefikV2(): Promise<ModuleAttempt> {
  const args = ["mod", "download", "-json", "github.com/traefik/traefik/v2@latest"];
  const command = `cd "$(mktemp -d)" && go ${args.join(" ")}`;
  const cwd = await mkdtemp(path.join(os.tmpdir(), "kes-traefik-v2-"));
  try {
    const res = await run("go", args, {
      cwd,
      env: { ...goEnv(), GOTOOLCHAIN: "local" },
      timeoutMs: 180_000,
    });
    let answer = res.stderr.trim();
    try {
      const doc = JSON.parse(res.stdout) as ModDownload;
      if (doc.Error) answer = doc.Error;
      else if (res.code === 0) answer = `downloaded ${doc.Version ?? "?"} into ${doc.Dir ?? "?"}`;
    } catch {
      // Not JSON: keep stderr.
    }
    return { available: res.code === 0, command, answer: answer.replace(/\s+/g, " ") };
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Helm, for the chart tests (test/cluster/chart.test.ts)

const HELM_MODULE = path.join(GO_DIR, "helm");
const HELM_PKG = "helm.sh/helm/v4/cmd/helm";

/**
 * Builds Helm from the helper module test/cluster/go/helm into $CACHE_DIR/bin/helm-<key>/helm,
 * where <key> hashes its go.mod, go.sum, the build flags and the Go version, and returns its path.
 * A cached binary is reused.
 */
export async function ensureHelm(opts: EnsureOptions = {}): Promise<string> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const [goVer, gomod, gosum] = await Promise.all([
    goVersion(),
    readFile(path.join(HELM_MODULE, "go.mod")),
    readFile(path.join(HELM_MODULE, "go.sum")),
  ]);
  const version = /^\s*helm\.sh\/helm\/v4 (v\d+\.\d+\.\d+)\b/m.exec(gomod.toString("utf8"))?.[1];
  if (!version) throw new Error("test/cluster/go/helm/go.mod does not require helm.sh/helm/v4");
  // Stamped like Helm's own Makefile does, so `helm version` reports the pinned release.
  const flags = [
    "-trimpath",
    "-pgo=off",
    `-ldflags=-s -w -X helm.sh/helm/v4/internal/version.version=${version} -X helm.sh/helm/v4/internal/version.gitTreeState=clean`,
  ];
  const key = createHash("sha256")
    .update("go.mod\0")
    .update(gomod)
    .update("\0go.sum\0")
    .update(gosum)
    .update(`\0${flags.join(" ")}\0CGO_ENABLED=0 ${goVer}\0`)
    .digest("hex")
    .slice(0, 12);
  const binDir = path.join(cacheDir(), "bin", `helm-${key}`);
  const helm = path.join(binDir, "helm");
  if (await isExecutable(helm)) return helm;

  await mkdir(binDir, { recursive: true });
  const tmp = await mkdtemp(path.join(binDir, ".build-helm-"));
  const args = ["build", ...flags, "-o", path.join(tmp, "helm"), HELM_PKG];
  const started = Date.now();
  log(`==> building helm ${version} into ${binDir} (${goVer})`);
  log(`  (cd test/cluster/go/helm && CGO_ENABLED=0 go ${args.map(shellQuote).join(" ")})`);
  const heartbeat = setInterval(
    () => log(`  ... still building helm (${elapsed(started)})`),
    HEARTBEAT_MS,
  );
  try {
    const res = await run("go", args, {
      cwd: HELM_MODULE,
      env: goEnv(),
      onStderrLine: (l) => {
        if (l.startsWith("go: downloading")) log(`  ${l}`);
      },
    });
    if (res.code !== 0) {
      throw new Error(
        `go build of helm failed (exit ${res.code}) in test/cluster/go/helm:\n${res.stderr}`,
      );
    }
    await rename(path.join(tmp, "helm"), helm);
    log(`  built helm in ${elapsed(started)}`);
  } finally {
    clearInterval(heartbeat);
    await rm(tmp, { recursive: true, force: true });
  }
  return helm;
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`==> control-plane binaries (cache ${path.join(cacheDir(), "bin")})`);
  const bins = await ensureBinaries();
  console.log(`==> route CRDs (cache ${path.join(cacheDir(), "crds")})`);
  const crds = await ensureRouteCRDs();
  const helm = await ensureHelm();
  const v2 = await tryTraefikV2();
  if (v2.available) {
    console.log(`  the proxy now serves Traefik v2: \`${v2.command}\` -> ${v2.answer}`);
    console.log(
      "  pin it in test/cluster/go/crds and copy its traefik.containo.us CRDs in build.ts",
    );
  } else {
    console.log(`BLOCKED: traefik.containo.us CRDs: \`${v2.command}\` -> ${v2.answer}`);
    console.log(
      "  github.com/traefik/traefik/v3 ships only traefik.io CRDs, so mirrors in the Traefik v2 " +
        "API group cannot be validated against a real schema here.",
    );
  }
  console.log("==> metacontroller");
  const mc = await tryMetacontroller();
  if (mc.available) {
    console.log(`  the proxy now serves Metacontroller: \`${mc.command}\` -> ${mc.answer}`);
    console.log(
      "  the helper module has no go.sum yet: run `go mod tidy` there and wire it into build.ts",
    );
  } else {
    console.log(`BLOCKED: metacontroller: \`${mc.command}\` -> ${mc.answer}`);
    console.log(
      "  Metacontroller (and its CRDs) cannot be built here; the tests validate the hook's output " +
        "against the real API server instead of running the DecoratorController end to end.",
    );
  }
  console.log("==> available");
  console.log(`  etcd                     ${bins.etcd}`);
  console.log(`  kube-apiserver           ${bins.apiserver}`);
  console.log(`  kube-controller-manager  ${bins.controllerManager}`);
  console.log(`  kubectl                  ${bins.kubectl}`);
  console.log(
    `  metacontroller           ${mc.available ? "module available, not built" : "BLOCKED"}`,
  );
  console.log(`  helm                     ${helm}`);
  for (const f of [...crds.traefik, ...crds.gatewayApi])
    console.log(`  CRDs                     ${f}`);
  console.log(
    `  traefik.containo.us CRDs ${v2.available ? "module available, not fetched" : "BLOCKED"}`,
  );
  console.log(`==> done in ${elapsed(started)}`);
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    console.error(`build failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
