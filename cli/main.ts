#!/usr/bin/env node
// kube-external-sync: the hook's engine on manifests, offline.
//
//   kube-external-sync render -f <files|dirs|-> --namespace <name> [...]
//   kube-external-sync check -f <files|dirs> [--config file]
//
// Exit codes: 0 done (render) or no invalid value (check); 1 invalid values (check) or unreadable,
// malformed input; 2 bad command line.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type Config, ConfigError, parseConfig } from "../lib/config.ts";
import { isDnsLabel } from "../lib/dns.ts";
import { RequestError } from "../lib/request.ts";
import { checkConfig, checkManifest, formatProblem, inputProblem, type Problem } from "./check.ts";
import { expandPath, InputError, manifestsOfFile, readManifests } from "./manifests.ts";
import { formatObjects, render } from "./render.ts";

const PROGRAM = "kube-external-sync";

const MAIN_HELP = `${PROGRAM}: preview and validate kube-external-sync mirrors offline, with the hook's own engine.

Usage:
  ${PROGRAM} render -f <files|dirs|-> --namespace <name> [flags]   print the mirrors a namespace gets
  ${PROGRAM} check -f <files|dirs> [--config <file>]             validate kube-external-sync.io/ annotations
  ${PROGRAM} <command> --help                                     flags of a command

Exit codes: 0 success, 1 invalid values or unreadable/malformed input, 2 bad command line.
`;

const RENDER_HELP = `Usage: ${PROGRAM} render -f <files|dirs|-> --namespace <name> [flags]

Reads manifests as \`kubectl apply -f\` does (multi-document YAML, JSON, Lists; a directory's
.yaml, .yml and .json files; - for stdin), treats them as the cluster's contents, and prints the
mirrors namespace <name> gets, as the hook computes them for Metacontroller: on stdout as YAML
(or JSON), and what the namespace status would report (skipped, conflicts, invalid) on stderr.

The DecoratorController is taken to declare Services, Ingresses, every route kind and TLS Secrets
(the package with its traefik, traefik-v2, gateway-api and tls-secrets components). Objects of
the namespace itself in the input count as existing: an unmanaged one is a conflict, as in the
cluster. Namespaced objects without metadata.namespace are in "default", as with kubectl. A
Secret's stringData counts as data, as the API server stores it; Secret data is printed only in
the TLS Secret mirrors on stdout.

Flags:
  -f, --filename <path>        file, directory or - (stdin); repeatable
  -n, --namespace <name>       the namespace to render mirrors for (required)
  -l, --labels <k=v,...>       labels of that namespace (added to those of a Namespace manifest)
      --annotations <k=v,...>  annotations of that namespace, e.g. kube-external-sync.io/skip=api;
                               an item without "=" continues the previous value (skip=a,b)
  -c, --config <file>          the hook's configuration file (default: built-in defaults)
  -o, --output <yaml|json>     output format (default yaml)
  -h, --help                   this help
`;

const CHECK_HELP = `Usage: ${PROGRAM} check -f <files|dirs> [--config <file>]

Validates every kube-external-sync.io/ annotation in the manifests (sources and the skip
annotation of Namespaces) and the configuration file, with the hook's own parsers. Prints one
line per problem, \`file:line: Kind namespace/name: field: message\`; warnings (annotations that
have no effect) are marked "warning:" and do not fail. Exits 1 when any value is invalid or a file
cannot be read or parsed, 0 otherwise: usable as a pre-merge check in a GitOps repository.

Flags:
  -f, --filename <path>   file, directory or - (stdin); repeatable
  -c, --config <file>     the hook's configuration file, validated as the server does at start
  -h, --help              this help
`;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: () => string;
}

/** Bad command line: printed with a pointer to --help, exit 2. */
class UsageError extends Error {
  override name = "UsageError";
  readonly command: string;
  constructor(command: string, detail: string) {
    super(detail);
    this.command = command;
  }
}

/** Runs node:util parseArgs, with its errors reworded to name the command and the flag. */
function parseFlags<T>(command: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    const code = (e as { code?: string }).code;
    const message = e instanceof Error ? e.message : String(e);
    const flag = /'(-[^']*)'/.exec(message)?.[1];
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      throw new UsageError(command, `unknown flag ${flag ?? message}`);
    }
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      const arg = /'([^']*)'/.exec(message)?.[1];
      throw new UsageError(command, `unexpected argument ${JSON.stringify(arg ?? "")}`);
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      throw new UsageError(command, message.replace(/^Option /, "flag ").replace(/\.$/, ""));
    }
    throw e;
  }
}

/** `k=v,k2=v2` (repeatable) as a map; an item without "=" continues the previous value. */
export function parsePairs(
  command: string,
  flag: string,
  values: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    let last: string | undefined;
    for (const item of value.split(",")) {
      const eq = item.indexOf("=");
      if (eq < 0) {
        if (last === undefined) {
          throw new UsageError(
            command,
            `${flag}: Invalid value: ${JSON.stringify(item)}: expected key=value`,
          );
        }
        out[last] = `${out[last]},${item}`;
        continue;
      }
      const key = item.slice(0, eq).trim();
      if (key === "") {
        throw new UsageError(command, `${flag}: Invalid value: ${JSON.stringify(item)}: empty key`);
      }
      out[key] = item.slice(eq + 1);
      last = key;
    }
  }
  return out;
}

const helpFlag = { help: { type: "boolean", short: "h" } } as const;
const filenameFlag = { filename: { type: "string", short: "f", multiple: true } } as const;
const configFlag = { config: { type: "string", short: "c" } } as const;

/** The configuration for render: the file's, validated with lines, or the defaults. */
function renderConfig(file: string | undefined, io: Io): Config | undefined {
  if (file === undefined) return parseConfig({});
  const { config, problems } = checkConfig(file);
  for (const p of problems) io.stderr(`${formatProblem(p)}\n`);
  return config;
}

function runRender(args: string[], io: Io): number {
  const { values } = parseFlags("render", () =>
    parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...helpFlag,
        ...filenameFlag,
        ...configFlag,
        namespace: { type: "string", short: "n" },
        labels: { type: "string", short: "l", multiple: true },
        annotations: { type: "string", multiple: true },
        output: { type: "string", short: "o", default: "yaml" },
      },
    }),
  );
  if (values.help) {
    io.stdout(RENDER_HELP);
    return 0;
  }
  const files = values.filename ?? [];
  if (files.length === 0) throw new UsageError("render", "-f/--filename is required");
  if (values.namespace === undefined || values.namespace === "") {
    throw new UsageError("render", "--namespace is required");
  }
  if (!isDnsLabel(values.namespace)) {
    throw new UsageError(
      "render",
      `--namespace: Invalid value: ${JSON.stringify(values.namespace)}: must be a namespace name (a DNS label)`,
    );
  }
  const output = values.output;
  if (output !== "yaml" && output !== "json") {
    throw new UsageError(
      "render",
      `--output: Unsupported value: ${JSON.stringify(output)}: supported values: "yaml", "json"`,
    );
  }
  const labels = parsePairs("render", "--labels", values.labels ?? []);
  const annotations = parsePairs("render", "--annotations", values.annotations ?? []);
  const config = renderConfig(values.config, io);
  if (config === undefined) return 1;
  const manifests = readManifests(files, io.stdin);
  const result = render(manifests, { namespace: values.namespace, labels, annotations, config });
  io.stdout(formatObjects(result.mirrors, output));
  for (const line of result.report) io.stderr(`${line}\n`);
  return 0;
}

/** Checks the manifests of a file or directory argument into `problems`; returns the object count. */
function checkPath(arg: string, io: Io, problems: Problem[]): number {
  let expanded: string[];
  try {
    expanded = expandPath(arg);
  } catch (e) {
    problems.push(inputProblem(e));
    return 0;
  }
  let objects = 0;
  for (const file of expanded) {
    try {
      for (const manifest of manifestsOfFile(file, io.stdin)) {
        objects += 1;
        problems.push(...checkManifest(manifest));
      }
    } catch (e) {
      problems.push(inputProblem(e));
    }
  }
  return objects;
}

function runCheck(args: string[], io: Io): number {
  const { values } = parseFlags("check", () =>
    parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { ...helpFlag, ...filenameFlag, ...configFlag },
    }),
  );
  if (values.help) {
    io.stdout(CHECK_HELP);
    return 0;
  }
  const files = values.filename ?? [];
  if (files.length === 0 && values.config === undefined) {
    throw new UsageError("check", "-f/--filename or --config is required");
  }
  const problems: Problem[] = [];
  if (values.config !== undefined) {
    try {
      problems.push(...checkConfig(values.config).problems);
    } catch (e) {
      problems.push(inputProblem(e));
    }
  }
  let objects = 0;
  // Every file is checked even when an earlier one is malformed: one run lists everything.
  for (const arg of files) objects += checkPath(arg, io, problems);
  for (const p of problems) io.stdout(`${formatProblem(p)}\n`);
  const errors = problems.filter((p) => !p.warning).length;
  const warnings = problems.length - errors;
  io.stderr(
    `${objects} object(s) checked${values.config === undefined ? "" : " and the configuration"}: ${errors} invalid, ${warnings} warning(s)\n`,
  );
  return errors > 0 ? 1 : 0;
}

/** Runs the CLI; returns the exit code. Never exits the process itself (tests call it). */
export function main(argv: readonly string[], io: Io): number {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case "render":
        return runRender(args, io);
      case "check":
        return runCheck(args, io);
      case undefined:
      case "help":
      case "-h":
      case "--help":
        io.stdout(MAIN_HELP);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(
          "",
          `unknown command ${JSON.stringify(command)}: expected render or check`,
        );
    }
  } catch (e) {
    if (e instanceof UsageError) {
      const where = e.command === "" ? PROGRAM : `${PROGRAM} ${e.command}`;
      io.stderr(`${where}: ${e.message} (see ${where} --help)\n`);
      return 2;
    }
    if (e instanceof InputError || e instanceof ConfigError || e instanceof RequestError) {
      io.stderr(`${PROGRAM}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) {
  const io: Io = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stdin: () => readFileSync(0, "utf8"),
  };
  process.exitCode = main(process.argv.slice(2), io);
}
