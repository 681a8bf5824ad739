// Builds the local control plane and Metacontroller, and gathers the CRDs the tests install.
//
// - etcd, kube-apiserver, kube-controller-manager and kubectl from the helper Go modules under
//   test/cluster/go/, into $CACHE_DIR/bin/<key>/ where <key> is a short sha256 of the helper
//   modules' go.mod and go.sum, the Go version and the build flags.
// - Metacontroller from its source tree: METACONTROLLER_SRC, by default
//   ../shared/third_party/metacontroller-v4.17.2 beside the repository (a shallow clone of the
//   upstream repository at tag v4.17.2 works the same). Its go.mod names the module
//   `metacontroller`, so the Go module proxy cannot serve it as a dependency; it is built in place
//   with `-o` into $CACHE_DIR/bin/metacontroller-<key>/, <key> hashing every file of the tree, the
//   Go version and the flags. Nothing is written into the tree (CI mounts it read-only). Its CRDs
//   are the tree's manifests/production/metacontroller-crds-v1.yaml.
// - The route kinds' CRDs (ensureRouteCRDs): Traefik's traefik.io CRDs and the Gateway API standard
//   CRDs, copied out of the module zips pinned by test/cluster/go/crds, and the traefik.containo.us
//   CRDs of Traefik v2 from TRAEFIK_V2_CRDS (default
//   ../shared/third_party/traefik-v2.11.53/kubernetes-crd-definition-v1.yml), all into
//   $CACHE_DIR/crds/<key>/ (not committed).
// - Helm for the chart tests (ensureHelm): v4 from test/cluster/go/helm and v3 from
//   test/cluster/go/helm3, each a helper module of its own, into $CACHE_DIR/bin/helm-<key>/ and
//   $CACHE_DIR/bin/helm3-<key>/, <key> hashing that module's go.mod and go.sum, the flags and the
//   Go version.
//
// Cached binaries are reused; a second run costs nothing. Each build prints its time.
//
//   node test/cluster/build.ts      (what `make cluster` runs)

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  access,
  constants,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { dump, loadAll } from "js-yaml";

export interface Binaries {
  etcd: string;
  apiserver: string;
  controllerManager: string;
  kubectl: string;
  metacontroller: string;
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const GO_DIR = path.join(REPO_ROOT, "test", "cluster", "go");
const HEARTBEAT_MS = 30_000;

type HelperModule = "etcd" | "kubernetes";

interface Target {
  key: Exclude<keyof Binaries, "metacontroller">;
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

/** Builds whatever is missing and returns the absolute paths of the binaries. */
export async function ensureBinaries(opts: EnsureOptions = {}): Promise<Binaries> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const [goVer, k8sVersion] = await Promise.all([goVersion(), kubernetesVersion()]);
  const key = await cacheKey(goVer, k8sVersion);
  const binDir = path.join(cacheDir(), "bin", key);
  const paths: Record<string, string> = {};
  for (const t of TARGETS) paths[t.key] = path.join(binDir, t.file);

  const missing: Target[] = [];
  for (const t of TARGETS) if (!(await isExecutable(paths[t.key] ?? ""))) missing.push(t);
  if (missing.length > 0) {
    await mkdir(binDir, { recursive: true });
    log(`==> building ${missing.map((t) => t.file).join(", ")} into ${binDir} (${goVer})`);
    for (const module of ["etcd", "kubernetes"] as const) {
      const targets = missing.filter((t) => t.module === module);
      if (targets.length > 0) await buildModule(module, targets, binDir, k8sVersion, log);
    }
  }
  const metacontroller = await ensureMetacontroller(goVer, log);
  return { ...(paths as Omit<Binaries, "metacontroller">), metacontroller };
}

async function buildModule(
  module: HelperModule,
  targets: readonly Target[],
  binDir: string,
  k8sVersion: string,
  log: (line: string) => void,
): Promise<void> {
  // Build into a private directory, then rename: a concurrent or interrupted build never leaves a
  // half-written binary under its final name.
  const tmp = await mkdtemp(path.join(binDir, `.build-${module}-`));
  const out = targets.length === 1 ? path.join(tmp, targets[0]?.file ?? "") : `${tmp}/`;
  try {
    await goBuild({
      cwd: path.join(GO_DIR, module),
      shownCwd: `test/cluster/go/${module}`,
      names: targets.map((t) => t.file).join(", "),
      args: ["build", ...buildFlags(module, k8sVersion), "-o", out, ...targets.map((t) => t.pkg)],
      log,
    });
    for (const t of targets) await rename(path.join(tmp, t.file), path.join(binDir, t.file));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** `go <args>` in `cwd`, printing the command, a heartbeat while it runs, and its time. */
async function goBuild(build: {
  cwd: string;
  shownCwd: string;
  names: string;
  args: string[];
  log: (line: string) => void;
}): Promise<void> {
  const { names, args, log } = build;
  const started = Date.now();
  log(`  (cd ${shellQuote(build.shownCwd)} && CGO_ENABLED=0 go ${args.map(shellQuote).join(" ")})`);
  log(`  building ${names} ...`);
  const heartbeat = setInterval(
    () => log(`  ... still building ${names} (${elapsed(started)})`),
    HEARTBEAT_MS,
  );
  try {
    const res = await run("go", args, {
      cwd: build.cwd,
      env: goEnv(),
      onStderrLine: (l) => {
        // `go: downloading ...` lines are progress; compiler errors are printed below in full.
        if (l.startsWith("go: downloading")) log(`  ${l}`);
      },
    });
    if (res.code !== 0) {
      throw new Error(
        `go build of ${names} failed (exit ${res.code}) in ${build.shownCwd}:\n${res.stderr}`,
      );
    }
    log(`  built ${names} in ${elapsed(started)}`);
  } finally {
    clearInterval(heartbeat);
  }
}

/** The path in environment variable `envVar`, else `../shared/third_party/<parts>` beside the
 * repository (where CI keeps the third-party sources). */
function envOrThirdParty(envVar: string, ...parts: string[]): string {
  const fromEnv = process.env[envVar];
  return fromEnv
    ? path.resolve(fromEnv)
    : path.resolve(REPO_ROOT, "..", "shared", "third_party", ...parts);
}

// ---------------------------------------------------------------------------------------------
// Metacontroller

const METACONTROLLER_TAG = "v4.17.2";
const METACONTROLLER_REPO = "https://github.com/metacontroller/metacontroller";

/** METACONTROLLER_SRC, else the copy beside the repository (as CI has it). */
export function metacontrollerSource(): string {
  return envOrThirdParty("METACONTROLLER_SRC", `metacontroller-${METACONTROLLER_TAG}`);
}

/** Metacontroller's CRDs (DecoratorController, CompositeController, ControllerRevision). */
export function metacontrollerCRDs(): string {
  return path.join(
    metacontrollerSource(),
    "manifests",
    "production",
    "metacontroller-crds-v1.yaml",
  );
}

/** Every regular file of the tree except VCS metadata, as sorted paths relative to it. */
async function treeFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .filter((rel) => !rel.split(path.sep).includes(".git"))
    .sort();
}

/** The image tag the tree's production manifest runs: the version this source is. */
async function metacontrollerVersion(src: string): Promise<string> {
  const manifest = await readFile(
    path.join(src, "manifests", "production", "metacontroller.yaml"),
    "utf8",
  );
  const m = /image:\s*\S*metacontroller:(v[\w.-]+)/.exec(manifest);
  return m?.[1] ?? "unknown";
}

/** Checks that `src` is a Metacontroller source tree, with a message that says how to get one. */
async function checkMetacontrollerSource(src: string): Promise<void> {
  const how =
    `get the source with \`git clone --depth 1 --branch ${METACONTROLLER_TAG} ${METACONTROLLER_REPO}\` ` +
    "and set METACONTROLLER_SRC to that directory";
  let gomod: string;
  try {
    gomod = await readFile(path.join(src, "go.mod"), "utf8");
  } catch {
    throw new Error(`no Metacontroller source at ${src} (METACONTROLLER_SRC): ${how}`);
  }
  if (!/^module metacontroller\s*$/m.test(gomod)) {
    throw new Error(`${src}/go.mod is not Metacontroller's (module metacontroller): ${how}`);
  }
  try {
    await access(path.join(src, "pkg", "cmd", "metacontroller", "main.go"));
    await access(path.join(src, "manifests", "production", "metacontroller-crds-v1.yaml"));
  } catch {
    throw new Error(`${src} lacks pkg/cmd/metacontroller or manifests/production: ${how}`);
  }
}

/** Builds Metacontroller from its source tree unless the cache has this tree's binary. */
async function ensureMetacontroller(goVer: string, log: (line: string) => void): Promise<string> {
  const src = metacontrollerSource();
  await checkMetacontrollerSource(src);
  const version = await metacontrollerVersion(src);
  const flags = ["-trimpath", "-pgo=off", `-ldflags=-s -w -X main.version=${version}`];
  const h = createHash("sha256");
  for (const rel of await treeFiles(src)) {
    h.update(`${rel}\0`)
      .update(await readFile(path.join(src, rel)))
      .update("\0");
  }
  h.update(`flags: ${flags.join(" ")}\0CGO_ENABLED=0 ${goVer}\0`);
  const binDir = path.join(cacheDir(), "bin", `metacontroller-${h.digest("hex").slice(0, 12)}`);
  const binary = path.join(binDir, "metacontroller");
  if (await isExecutable(binary)) return binary;

  await mkdir(binDir, { recursive: true });
  log(`==> building metacontroller ${version} from ${src} into ${binDir} (${goVer})`);
  const tmp = await mkdtemp(path.join(binDir, ".build-"));
  try {
    await goBuild({
      cwd: src,
      shownCwd: src,
      names: "metacontroller",
      args: ["build", ...flags, "-o", path.join(tmp, "metacontroller"), "./pkg/cmd/metacontroller"],
      log,
    });
    await rename(path.join(tmp, "metacontroller"), binary);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return binary;
}

// ---------------------------------------------------------------------------------------------
// CRDs of the route kinds

export interface RouteCRDs {
  /** traefik.io/v1alpha1 (IngressRoute, Middleware and the rest of Traefik v3's CRDs). */
  traefik: string[];
  /** gateway.networking.k8s.io: GatewayClass, Gateway, HTTPRoute, ReferenceGrant (standard). */
  gatewayApi: string[];
  /** traefik.containo.us/v1alpha1: Traefik v2's own API group (its traefik.io CRDs are left out:
   * the v3 ones above serve that group). */
  traefikV2: string[];
}

interface CrdSource {
  set: Exclude<keyof RouteCRDs, "traefikV2">;
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

/** The version of `module` that a helper module's go.mod (shown as `dir`) requires. */
function requiredVersion(gomod: string, module: string, dir = "test/cluster/go/crds"): string {
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const m = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, "m").exec(gomod);
  if (!m?.[1]) throw new Error(`${dir}/go.mod does not require ${module}`);
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

const TRAEFIK_V2_GROUP = "traefik.containo.us";
const TRAEFIK_V2_FILE = "traefik-containo-us-crds.yaml";

/** TRAEFIK_V2_CRDS, else the copy beside the repository: Traefik v2.11.53's
 * docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml. */
export function traefikV2Source(): string {
  return envOrThirdParty("TRAEFIK_V2_CRDS", "traefik-v2.11.53", "kubernetes-crd-definition-v1.yml");
}

async function readTraefikV2Source(): Promise<Buffer> {
  const file = traefikV2Source();
  try {
    return await readFile(file);
  } catch {
    throw new Error(
      `no Traefik v2 CRD file at ${file} (TRAEFIK_V2_CRDS): take ` +
        "docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml from " +
        "https://github.com/traefik/traefik at tag v2.11.53 and set TRAEFIK_V2_CRDS to it",
    );
  }
}

/** The CRDs of the traefik.containo.us group out of Traefik v2's file, as one YAML stream. */
function traefikV2Group(file: Buffer): string {
  const docs = (loadAll(file.toString("utf8")) as ({ spec?: { group?: string } } | null)[]).filter(
    (d) => d?.spec?.group === TRAEFIK_V2_GROUP,
  );
  if (docs.length === 0) throw new Error(`${traefikV2Source()} has no ${TRAEFIK_V2_GROUP} CRDs`);
  return docs.map((d) => dump(d, { noRefs: true, lineWidth: -1 })).join("---\n");
}

async function crdsKey(gomod: Buffer, gosum: Buffer, traefikV2: Buffer): Promise<string> {
  const h = createHash("sha256");
  h.update("go.mod\0").update(gomod).update("\0go.sum\0").update(gosum).update("\0");
  h.update("traefik v2\0").update(traefikV2).update("\0");
  for (const s of CRD_SOURCES) h.update(`${s.set} ${s.module} ${s.files.join(" ")}\0`);
  return h.digest("hex").slice(0, 12);
}

/**
 * The CRD manifests of the route kinds, fetched into $CACHE_DIR/crds/<key>/ when missing (a
 * download of two pinned modules, or nothing when the Go module cache already holds them, and a
 * copy of the traefik.containo.us part of Traefik v2's file) and returned as absolute file paths.
 */
export async function ensureRouteCRDs(opts: EnsureOptions = {}): Promise<RouteCRDs> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const [gomod, gosum, traefikV2] = await Promise.all([
    readFile(path.join(CRDS_MODULE, "go.mod")),
    readFile(path.join(CRDS_MODULE, "go.sum")),
    readTraefikV2Source(),
  ]);
  const key = await crdsKey(gomod, gosum, traefikV2);
  const dir = path.join(cacheDir(), "crds", key);
  const result: RouteCRDs = { traefik: [], gatewayApi: [], traefikV2: [] };
  for (const s of CRD_SOURCES) {
    for (const f of s.files) result[s.set].push(path.join(dir, path.basename(f)));
  }
  result.traefikV2.push(path.join(dir, TRAEFIK_V2_FILE));
  const all = [...result.traefik, ...result.gatewayApi, ...result.traefikV2];
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
    await writeFile(path.join(tmp, TRAEFIK_V2_FILE), traefikV2Group(traefikV2));
    log(`  ${TRAEFIK_V2_GROUP} CRDs of ${traefikV2Source()}`);
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

// ---------------------------------------------------------------------------------------------
// Helm, for the chart tests (test/cluster/chart.test.ts)

/** The Helm majors the chart is tested with, each pinned by its own helper module. */
export type HelmMajor = 3 | 4;

interface HelmBuild {
  /** Helper module directory under test/cluster/go/. */
  module: string;
  /** Helm's Go module, as the helper's go.mod requires it. */
  helmModule: string;
  /** The main package built. */
  pkg: string;
  /** The package whose `version` and `gitTreeState` variables `helm version` reports. */
  versionPkg: string;
  /**
   * Packages whose `k8sVersionMajor` and `k8sVersionMinor` give the Kubernetes version that
   * `helm template` and `helm lint` assume without a cluster. Helm 3 defaults them to 1.20 (and
   * then refuses a chart with `kubeVersion: >=1.30.0-0`); its Makefile stamps the client-go
   * version (v0.M.m is Kubernetes 1.M), as release binaries have it. Helm 4 reads it at run time.
   */
  kubeVersionPkgs: readonly string[];
}

const HELM_BUILDS: Record<HelmMajor, HelmBuild> = {
  3: {
    module: "helm3",
    helmModule: "helm.sh/helm/v3",
    pkg: "helm.sh/helm/v3/cmd/helm",
    versionPkg: "helm.sh/helm/v3/internal/version",
    kubeVersionPkgs: ["helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"],
  },
  4: {
    module: "helm",
    helmModule: "helm.sh/helm/v4",
    pkg: "helm.sh/helm/v4/cmd/helm",
    versionPkg: "helm.sh/helm/v4/internal/version",
    kubeVersionPkgs: [],
  },
};

export interface EnsureHelmOptions extends EnsureOptions {
  /** Which Helm; default 4. */
  major?: HelmMajor;
}

/**
 * Builds Helm from its helper module (test/cluster/go/helm for v4, test/cluster/go/helm3 for v3)
 * into $CACHE_DIR/bin/helm<major>-<key>/helm (v4: helm-<key>), where <key> hashes the module's
 * go.mod, go.sum, the build flags and the Go version, and returns its path. A cached binary is
 * reused.
 */
export async function ensureHelm(opts: EnsureHelmOptions = {}): Promise<string> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const major = opts.major ?? 4;
  const build = HELM_BUILDS[major];
  const moduleDir = path.join(GO_DIR, build.module);
  const shownCwd = `test/cluster/go/${build.module}`;
  const [goVer, gomod, gosum] = await Promise.all([
    goVersion(),
    readFile(path.join(moduleDir, "go.mod")),
    readFile(path.join(moduleDir, "go.sum")),
  ]);
  const version = requiredVersion(gomod.toString("utf8"), build.helmModule, shownCwd);
  // Stamped like Helm's own Makefile does, so `helm version` reports the pinned release.
  const stamps = [
    `${build.versionPkg}.version=${version}`,
    `${build.versionPkg}.gitTreeState=clean`,
  ];
  if (build.kubeVersionPkgs.length > 0) {
    const clientGo = requiredVersion(gomod.toString("utf8"), "k8s.io/client-go", shownCwd);
    const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(clientGo) ?? [];
    for (const pkg of build.kubeVersionPkgs) {
      stamps.push(`${pkg}.k8sVersionMajor=${Number(major) + 1}`, `${pkg}.k8sVersionMinor=${minor}`);
    }
  }
  const flags = [
    "-trimpath",
    "-pgo=off",
    `-ldflags=-s -w ${stamps.map((x) => `-X ${x}`).join(" ")}`,
  ];
  const key = createHash("sha256")
    .update("go.mod\0")
    .update(gomod)
    .update("\0go.sum\0")
    .update(gosum)
    .update(`\0${flags.join(" ")}\0CGO_ENABLED=0 ${goVer}\0`)
    .digest("hex")
    .slice(0, 12);
  // v4 keeps the directory name it had before v3 was added, so its cached binary stays valid.
  const binDir = path.join(cacheDir(), "bin", `${major === 4 ? "helm" : `helm${major}`}-${key}`);
  const helm = path.join(binDir, "helm");
  if (await isExecutable(helm)) return helm;

  await mkdir(binDir, { recursive: true });
  log(`==> building helm ${version} into ${binDir} (${goVer})`);
  const tmp = await mkdtemp(path.join(binDir, ".build-helm-"));
  try {
    await goBuild({
      cwd: moduleDir,
      shownCwd,
      names: `helm ${version}`,
      args: ["build", ...flags, "-o", path.join(tmp, "helm"), build.pkg],
      log,
    });
    await rename(path.join(tmp, "helm"), helm);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return helm;
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`==> binaries (cache ${path.join(cacheDir(), "bin")})`);
  const bins = await ensureBinaries();
  console.log(`==> route CRDs (cache ${path.join(cacheDir(), "crds")})`);
  const crds = await ensureRouteCRDs();
  console.log("==> helm");
  const helm = await ensureHelm();
  const helm3 = await ensureHelm({ major: 3 });
  console.log("==> available");
  console.log(`  etcd                     ${bins.etcd}`);
  console.log(`  kube-apiserver           ${bins.apiserver}`);
  console.log(`  kube-controller-manager  ${bins.controllerManager}`);
  console.log(`  kubectl                  ${bins.kubectl}`);
  console.log(`  metacontroller           ${bins.metacontroller}`);
  console.log(`  CRDs                     ${metacontrollerCRDs()}`);
  console.log(`  helm (v4)                ${helm}`);
  console.log(`  helm (v3)                ${helm3}`);
  for (const f of [...crds.traefik, ...crds.traefikV2, ...crds.gatewayApi])
    console.log(`  CRDs                     ${f}`);
  console.log(`==> done in ${elapsed(started)}`);
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    console.error(`build failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
