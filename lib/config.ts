import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import { z } from "zod";
import { clip, isDnsLabel, isDnsSubdomain } from "./dns.ts";
import { formatFieldError } from "./errors.ts";
import { parseTopLevelDomain } from "./hosts.ts";
import { type NameMatcher, parseNameList } from "./patterns.ts";
import { parseSelector, type Selector } from "./selector.ts";

// The configuration file (docs/design.md#configuration): YAML, validated once at start. A bad file stops
// the server with a message naming the field, rather than running with a guess.

const fileSchema = z.strictObject({
  sourceNamespaces: z
    .array(z.string().refine(isDnsLabel, { error: "must be a namespace name (a DNS label)" }))
    .min(1, { error: "must name at least one namespace" })
    .default(["develop"]),
  excludeNamespaces: z.array(z.string()).default(["kube-system", "kube-public", "kube-node-lease"]),
  externalNameSuffix: z
    .string()
    .refine(isDnsSubdomain, { error: "must be a DNS subdomain such as svc.cluster.local" })
    .default("svc.cluster.local"),
  defaultTopLevelDomain: z.string().default(""),
  sourceSelector: z.string().default(""),
  /** IngressRoute mirrors: reference the source's Middlewares across namespaces, or use local copies. */
  traefikMiddlewares: z.enum(["crossNamespace", "local"]).default("crossNamespace"),
  /**
   * IngressRoute mirrors: keep Service references local (resolving to the ExternalName mirrors),
   * or point those the branch does not run itself at the source namespace.
   */
  traefikBackends: z.enum(["local", "source"]).default("local"),
  /**
   * HTTPRoute mirrors: point backends at the source namespace with a ReferenceGrant (works on every
   * implementation), or keep them local (needs ExternalName backend support, which most lack).
   */
  gatewayBackends: z.enum(["local", "source"]).default("source"),
});

export type ConfigFile = z.input<typeof fileSchema>;

export interface Config {
  sourceNamespaces: string[];
  excludeNamespaces: NameMatcher;
  externalNameSuffix: string;
  /** The base domain `B` of `*.B`, or "" when unset. */
  defaultTopLevelDomain: string;
  /** Narrows which objects in source namespaces are considered; undefined: all. */
  sourceSelector: Selector | undefined;
  /** The hook's own namespace, never a target (from POD_NAMESPACE). */
  podNamespace: string | undefined;
  traefikMiddlewares: "crossNamespace" | "local";
  traefikBackends: "local" | "source";
  gatewayBackends: "local" | "source";
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Validates a parsed configuration document; throws ConfigError naming every bad field. */
export function parseConfig(doc: unknown, podNamespace?: string): Config {
  const parsed = fileSchema.safeParse(doc ?? {}, { reportInput: true });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const path = i.path.length > 0 ? i.path.join(".") : "(document)";
      if (i.code === "unrecognized_keys") return `${path}: unknown field(s) ${i.keys.join(", ")}`;
      // A scalar the file got wrong is named, like the API server's "Invalid value" messages.
      const scalar = typeof i.input === "string" || typeof i.input === "number";
      return scalar
        ? `${path}: Invalid value: ${JSON.stringify(clip(String(i.input), 80))}: ${i.message}`
        : `${path}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  const file = parsed.data;
  const problems: string[] = [];

  const dupes = file.sourceNamespaces.filter((n, i) => file.sourceNamespaces.indexOf(n) !== i);
  if (dupes.length > 0)
    problems.push(`sourceNamespaces: ${dupes.join(", ")} listed more than once`);

  const exclude = parseNameList(file.excludeNamespaces.join(","), "excludeNamespaces");
  if (!exclude.ok) problems.push(...exclude.errors.map(formatFieldError));

  const tld = parseTopLevelDomain(file.defaultTopLevelDomain, "defaultTopLevelDomain");
  if (!tld.ok) problems.push(...tld.errors.map(formatFieldError));

  let sourceSelector: Selector | undefined;
  if (file.sourceSelector.trim() !== "") {
    const sel = parseSelector(file.sourceSelector, "sourceSelector", "labels");
    if (sel.ok) sourceSelector = sel.value;
    else problems.push(...sel.errors.map(formatFieldError));
  }

  if (problems.length > 0 || !exclude.ok || !tld.ok) {
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  return {
    sourceNamespaces: file.sourceNamespaces,
    excludeNamespaces: exclude.value,
    externalNameSuffix: file.externalNameSuffix,
    defaultTopLevelDomain: tld.value,
    sourceSelector,
    podNamespace: podNamespace === "" ? undefined : podNamespace,
    traefikMiddlewares: file.traefikMiddlewares,
    traefikBackends: file.traefikBackends,
    gatewayBackends: file.gatewayBackends,
  };
}

/** Reads the YAML file at `path`, or returns the defaults when `path` is unset. */
export function loadConfig(path: string | undefined, podNamespace?: string): Config {
  if (path === undefined || path === "") return parseConfig({}, podNamespace);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read CONFIG_FILE ${path}: ${e instanceof Error ? e.message : e}`);
  }
  let doc: unknown;
  try {
    // An empty file means "all defaults"; js-yaml 5 throws on "".
    doc = text.trim() === "" ? {} : load(text);
  } catch (e) {
    throw new ConfigError(
      `CONFIG_FILE ${path} is not valid YAML: ${e instanceof Error ? e.message : e}`,
    );
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(
      `CONFIG_FILE ${path}: the document must be a mapping of the fields in docs/design.md#configuration`,
    );
  }
  return parseConfig(doc, podNamespace);
}
