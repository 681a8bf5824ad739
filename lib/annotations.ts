import {
  Annotation,
  DECORATOR_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  NAMESPACE_OUTPUT_KEYS,
  PREFIX,
  SOURCE_KEYS,
  TARGETING_KEYS,
} from "./constants.ts";
import { isDnsSubdomain, whyNotSubdomain } from "./dns.ts";
import { annotationField, type FieldError, fieldError } from "./errors.ts";
import { type HostTemplate, parseHostTemplate, parseTopLevelDomain } from "./hosts.ts";
import { sortStrings } from "./metadata.ts";
import { type NameMatcher, parseNameList } from "./patterns.ts";
import { parseSelector, type Selector } from "./selector.ts";
import type { KubeObject } from "./types.ts";

// The annotation vocabulary on source objects and target namespaces (docs/design.md#vocabulary).

/** Which copied labels or annotations a source strips from its mirrors. */
export interface StripList {
  all: boolean;
  keys: ReadonlySet<string>;
}

/** A source's annotations, validated. Unset optional keys fall back to the configuration. */
export interface SourceSpec {
  replicateTo: NameMatcher | undefined;
  replicateToMatching: Selector | undefined;
  replicateToAnnotated: Selector | undefined;
  excludeNamespaces: NameMatcher | undefined;
  externalNameSuffix: string | undefined;
  /** Base domain of `top-level-domain`; undefined when unset. */
  topLevelDomain: string | undefined;
  hostTemplate: HostTemplate | undefined;
  tldSecretName: string | undefined;
  stripLabels: StripList;
  stripAnnotations: StripList;
}

export type ParsedSource =
  | { ok: true; spec: SourceSpec; warnings: FieldError[] }
  | { ok: false; errors: FieldError[]; warnings: FieldError[] };

/** True for objects this controller wrote: they are never sources, whatever they carry. */
export function isMirror(obj: KubeObject): boolean {
  return (
    obj.metadata.annotations?.[DECORATOR_ANNOTATION] !== undefined ||
    obj.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE
  );
}

/** True for an object that asks to be mirrored (before its annotations are validated). */
export function isSource(obj: KubeObject): boolean {
  const a = obj.metadata.annotations;
  return a !== undefined && TARGETING_KEYS.some((k) => a[k] !== undefined) && !isMirror(obj);
}

/**
 * The first key the hook writes on namespaces that `selector` names. Selecting on one would make
 * targeting depend on the hook's own output: a namespace could gain or lose mirrors, and its
 * label flap, because of what the previous answer wrote.
 */
function namedOutputKey(selector: Selector): string | undefined {
  return selector.requirements.find((r) => NAMESPACE_OUTPUT_KEYS.includes(r.key))?.key;
}

const NO_STRIP: StripList = { all: false, keys: new Set() };
const QUALIFIED_KEY =
  /^(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function parseStripList(value: string, field: string): StripList | FieldError {
  const v = value.trim().toLowerCase();
  if (v === "true") return { all: true, keys: new Set() };
  if (v === "false" || v === "") return NO_STRIP;
  const keys = new Set<string>();
  for (const raw of value.split(",")) {
    const key = raw.trim();
    if (key === "") continue;
    if (key.length > 316 || !QUALIFIED_KEY.test(key)) {
      return fieldError(field, key, 'must be "true" or a comma list of label or annotation keys');
    }
    keys.add(key);
  }
  return { all: false, keys };
}

/** A node of the parsed-annotations cache: what follows one more key and its value. */
interface CacheNode {
  parsed?: ParsedSource;
  next?: Map<string, Map<string, CacheNode>>;
}

/**
 * Parsed annotations, found by their kube-external-sync.io/* keys and values in key order. A tree
 * of maps, so that a lookup, which every source of every sync makes, builds no string. Bounded in
 * entries and in the characters of the keys and values it holds (values are a tenant's to make
 * long): when full, it starts again.
 */
export class ParsedCache {
  /** What the maps of one key and value cost, counted as characters. */
  static readonly NODE_CHARS = 256;
  private root: CacheNode = {};
  private entries = 0;
  private chars = 0;

  private readonly limits: { maxEntries: number; maxChars: number };

  constructor(limits = { maxEntries: 2000, maxChars: 4 * 1024 * 1024 }) {
    this.limits = limits;
  }

  /** Entries held, and the characters they are counted as. */
  get size(): { entries: number; chars: number } {
    return { entries: this.entries, chars: this.chars };
  }

  get(annotations: Readonly<Record<string, string>>, ours: readonly string[]) {
    let node: CacheNode | undefined = this.root;
    for (const key of ours) node = node?.next?.get(key)?.get(annotations[key] as string);
    return node?.parsed;
  }

  set(
    annotations: Readonly<Record<string, string>>,
    ours: readonly string[],
    parsed: ParsedSource,
  ) {
    const size = ours.reduce(
      (sum, key) => sum + ParsedCache.NODE_CHARS + key.length + (annotations[key] as string).length,
      0,
    );
    const { maxEntries, maxChars } = this.limits;
    if (size > maxChars) return;
    if (this.entries >= maxEntries || this.chars + size > maxChars) {
      this.root = {};
      this.entries = 0;
      this.chars = 0;
    }
    let node = this.root;
    for (const key of ours) node = childOf(node, key, annotations[key] as string);
    node.parsed = parsed;
    this.entries++;
    this.chars += size;
  }
}

function childOf(node: CacheNode, key: string, value: string): CacheNode {
  node.next ??= new Map();
  let byValue = node.next.get(key);
  if (byValue === undefined) {
    byValue = new Map();
    node.next.set(key, byValue);
  }
  let child = byValue.get(value);
  if (child === undefined) {
    child = {};
    byValue.set(value, child);
  }
  return child;
}

const parsedCache = new ParsedCache();

/**
 * Validates every kube-external-sync.io/* annotation of a source object. Sources of one cluster
 * mostly carry the same few values, and every sync reads all of them: results are remembered by
 * those keys and values (the result is a pure function of them, and never modified).
 */
export function parseSourceAnnotations(
  annotations: Readonly<Record<string, string>>,
): ParsedSource {
  const ours: string[] = [];
  for (const key in annotations) if (key.startsWith(PREFIX)) ours.push(key);
  sortStrings(ours);
  const cached = parsedCache.get(annotations, ours);
  if (cached !== undefined) return cached;
  const parsed = parseOurAnnotations(annotations, ours);
  parsedCache.set(annotations, ours, parsed);
  return parsed;
}

/** `ours`: the kube-external-sync.io/* keys of `annotations`, sorted. */
function parseOurAnnotations(
  annotations: Readonly<Record<string, string>>,
  ours: readonly string[],
): ParsedSource {
  const errors: FieldError[] = [];
  const warnings: FieldError[] = [];
  const get = (key: string) => annotations[key];

  for (const key of ours) {
    if (key === Annotation.keepOwnerReferences) {
      warnings.push(
        fieldError(
          annotationField(key),
          annotations[key] ?? "",
          "not supported: owner references across namespaces make the garbage collector delete mirrors; ignored",
        ),
      );
    } else if (!SOURCE_KEYS.has(key)) {
      warnings.push(
        fieldError(annotationField(key), annotations[key] ?? "", "unknown annotation; ignored"),
      );
    }
  }

  function names(key: string): NameMatcher | undefined {
    const v = get(key);
    if (v === undefined) return undefined;
    const r = parseNameList(v, annotationField(key));
    if (r.ok) return r.value;
    errors.push(...r.errors);
    return undefined;
  }
  function selector(key: string, mode: "labels" | "annotations"): Selector | undefined {
    const v = get(key);
    if (v === undefined) return undefined;
    const r = parseSelector(v, annotationField(key), mode);
    if (!r.ok) {
      errors.push(...r.errors);
      return undefined;
    }
    const output = namedOutputKey(r.value);
    if (output === undefined) return r.value;
    errors.push(fieldError(annotationField(key), v, `${output} is written by the hook`));
    return undefined;
  }
  function subdomain(key: string): string | undefined {
    const v = get(key);
    if (v === undefined) return undefined;
    const t = v.trim();
    if (isDnsSubdomain(t)) return t;
    errors.push(
      fieldError(annotationField(key), v, `must be a DNS subdomain: ${whyNotSubdomain(t)}`),
    );
    return undefined;
  }
  function strip(key: string): StripList {
    const v = get(key);
    if (v === undefined) return NO_STRIP;
    const r = parseStripList(v, annotationField(key));
    if ("field" in r) {
      errors.push(r);
      return NO_STRIP;
    }
    return r;
  }

  const replicateTo = names(Annotation.replicateTo);
  const replicateToMatching = selector(Annotation.replicateToMatching, "labels");
  const replicateToAnnotated = selector(Annotation.replicateToAnnotated, "annotations");
  const excludeNamespaces = names(Annotation.excludeNamespaces);
  const externalNameSuffix = subdomain(Annotation.externalNameSuffix);
  const tldSecretName = subdomain(Annotation.tldSecretName);

  let topLevelDomain: string | undefined;
  const tldValue = get(Annotation.topLevelDomain);
  if (tldValue !== undefined) {
    const r = parseTopLevelDomain(tldValue, annotationField(Annotation.topLevelDomain));
    if (r.ok) topLevelDomain = r.value;
    else errors.push(...r.errors);
  }
  let hostTemplate: HostTemplate | undefined;
  const templateValue = get(Annotation.hostTemplate);
  if (templateValue !== undefined) {
    const r = parseHostTemplate(templateValue, annotationField(Annotation.hostTemplate));
    if (r.ok) hostTemplate = r.value;
    else errors.push(...r.errors);
  }
  const stripLabels = strip(Annotation.stripLabels);
  const stripAnnotations = strip(Annotation.stripAnnotations);

  if (errors.length > 0) return { ok: false, errors, warnings };
  return {
    ok: true,
    warnings,
    spec: {
      replicateTo,
      replicateToMatching,
      replicateToAnnotated,
      excludeNamespaces,
      externalNameSuffix,
      topLevelDomain,
      hostTemplate,
      tldSecretName,
      stripLabels,
      stripAnnotations,
    },
  };
}

/** The `kube-external-sync.io/skip` annotation of a target namespace. */
export interface SkipList {
  /** True when the namespace asks for no mirror of `kind`/`name`. */
  skips(kind: string, name: string): boolean;
}

/**
 * Parses `*` or a comma list of `name` and `Kind/name`. Bad items are reported and ignored: an
 * ignored item can only keep a mirror, never delete one.
 */
export function parseSkipList(
  value: string | undefined,
  knownKinds: readonly string[],
): { skip: SkipList; errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (value === undefined) return { skip: { skips: () => false }, errors };
  const field = annotationField(Annotation.skip);
  const all = new Set<string>();
  const byKind = new Set<string>();
  let everything = false;
  for (const raw of value.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    if (item === "*") {
      everything = true;
      continue;
    }
    const slash = item.indexOf("/");
    const kindPart = slash >= 0 ? item.slice(0, slash) : undefined;
    const name = slash >= 0 ? item.slice(slash + 1) : item;
    if (!isDnsSubdomain(name)) {
      errors.push(
        fieldError(field, item, "must be *, a name, or Kind/name (for example api,Ingress/web)"),
      );
      continue;
    }
    if (kindPart === undefined) {
      all.add(name);
      continue;
    }
    const kind = knownKinds.find((k) => k.toLowerCase() === kindPart.toLowerCase());
    if (kind === undefined) {
      errors.push(
        fieldError(field, item, `unknown kind "${kindPart}"; known: ${knownKinds.join(", ")}`),
      );
      continue;
    }
    byKind.add(`${kind}/${name}`);
  }
  return {
    errors,
    skip: { skips: (kind, name) => everything || all.has(name) || byKind.has(`${kind}/${name}`) },
  };
}
