import {
  isSource,
  parseSkipList,
  parseSourceAnnotations,
  type SkipList,
  type SourceSpec,
} from "./annotations.ts";
import { type BranchFacts, branchFacts } from "./branch.ts";
import type { Config } from "./config.ts";
import { Annotation, Reason } from "./constants.ts";
import { type FieldError, formatFieldError } from "./errors.ts";
import { type DeclaredKind, declaredInRole } from "./kinds/index.ts";
import {
  type CompanionKind,
  type MirrorContext,
  type Remark,
  routesOf,
  type SourceKind,
} from "./kinds/kind.ts";
import { describeCollision, listMergeCollisions, withoutCollisions } from "./list-merge.ts";
import {
  type AttachmentParent,
  compareStrings,
  objectKey,
  observedAttachment,
  replicatedFrom,
} from "./metadata.ts";
import { attachmentParentOf, type CustomizeInput, objectsIn, type SyncInput } from "./request.ts";
import { toLabelSelector } from "./selector.ts";
import {
  buildStatus,
  ineligibleNamespaceMetadata,
  type NamespaceStatus,
  namespaceMetadata,
} from "./status.ts";
import { isEligibleNamespace, isTargetOf } from "./targeting.ts";
import type {
  CustomizeResponse,
  Issue,
  KubeObject,
  ObjectMap,
  ObjectsByName,
  RelatedResourceRule,
  SourceRef,
  SyncResponse,
} from "./types.ts";

// The engine: one parsed sync request in, the complete desired state of one namespace out. A pure
// function of its input, so an unchanged cluster gets byte-identical answers. It never rejects:
// lib/request.ts has checked everything it reads. It reads top to bottom as stages of plain data
// (docs/design.md#the-decision-for-each-source):
//
//   eligible namespace → candidate sources → a decision per candidate → companions → the answer

export interface SyncOutcome {
  response: SyncResponse;
  /** What the namespace's status reports; undefined for namespaces that never get mirrors. */
  status: NamespaceStatus | undefined;
  /** Uncapped counts, for metrics. */
  counts: {
    mirrors: Record<string, number>;
    conflicts: number;
    invalidSources: number;
    /** `Kind namespace/name` of each source reported invalid, so metrics can count them once. */
    invalidSourceIds: string[];
  };
}

export function computeSync(input: SyncInput, config: Config): SyncOutcome {
  const targetName = input.namespace.metadata.name;
  if (!isEligibleNamespace(targetName, config)) return ineligibleOutcome();
  const { target, issues: skipIssues } = targetOf(input, config);
  const decisions = decideAll(candidateSources(input, config), target);
  const mirrors = mirrorsOf(decisions);
  const companions = companionsOf(decisions, mirrors, target);
  const desired = [...mirrors, ...companions.desired];
  // While any source is invalid, existing companions are kept: the kept mirrors may rely on them.
  const wanted = decisions.some((d) => d.invalid)
    ? keepObservedCompanions(desired, target)
    : desired;
  const issues = [
    ...skipIssues,
    ...decisions.flatMap((d) => d.issues),
    ...companions.issues,
    ...hostCollisions(wanted),
  ];
  return answer(target, wanted, issues, invalidSourceIds(decisions));
}

// ---------------------------------------------------------------------------------------------
// Stage 1: the namespace. An ineligible one gets nothing, and null removes what the hook wrote
// before a config change.

function ineligibleOutcome(): SyncOutcome {
  return {
    response: { ...ineligibleNamespaceMetadata(), attachments: [], resyncAfterSeconds: 0 },
    status: undefined,
    counts: { mirrors: {}, conflicts: 0, invalidSources: 0, invalidSourceIds: [] },
  };
}

/** The namespace being synced, and what every decision about it reads. */
interface Target {
  input: SyncInput;
  config: Config;
  /** The namespace's name. */
  name: string;
  skip: SkipList;
  /** The apiVersion the controller declares for a kind, or undefined when it does not. */
  declared(group: string, kind: string): string | undefined;
  /** Hosts served in the source namespaces, with the object serving each; computed on first use. */
  servedHosts(): ReadonlyMap<string, string>;
  /**
   * What the namespace itself holds that route and TLS mirrors decide by (lib/branch.ts). It
   * knows no mirrors: decideAll hands the other kinds a target whose facts know the mirrors of
   * the kinds decided first.
   */
  branch: BranchFacts;
  /** The namespace and controller, as Metacontroller's child test reads them. */
  parent: AttachmentParent;
}

function targetOf(input: SyncInput, config: Config): { target: Target; issues: Issue[] } {
  const name = input.namespace.metadata.name;
  const { skip, errors } = parseSkipList(
    input.namespace.metadata.annotations?.[Annotation.skip],
    input.kinds.map((k) => k.module.kind),
  );
  let served: Map<string, string> | undefined;
  const target: Target = {
    input,
    config,
    name,
    skip,
    declared: (group, kind) =>
      input.kinds.find((k) => k.module.group === group && k.module.kind === kind)?.apiVersion,
    servedHosts: () => {
      served ??= hostsServedBySources(input, config);
      return served;
    },
    branch: branchFacts(input, skip),
    parent: attachmentParentOf(input),
  };
  // A bad skip item is ignored: ignoring it can only keep a mirror.
  const issues = errors.map(
    (e): Issue => ({
      reason: Reason.InvalidAnnotation,
      kind: "Namespace",
      name,
      message: `${formatFieldError(e)}; item ignored`,
    }),
  );
  return { target, issues };
}

/**
 * Hosts served in the source namespaces by any object of a routing kind. A mirror never serves
 * one: a namespace named like a host label (`api`) would otherwise take `api.example.com` over.
 */
function hostsServedBySources(input: SyncInput, config: Config): Map<string, string> {
  const served = new Map<string, string>();
  for (const kind of declaredInRole(input.kinds, "source")) {
    if (!kind.module.routes) continue;
    for (const namespace of config.sourceNamespaces) {
      for (const object of objectsIn(groupOf(input.related, kind), namespace)) {
        for (const { host } of routesOf(kind.module, object)) {
          if (host !== "" && !served.has(host))
            served.set(host, `${object.kind} ${namespace}/${object.metadata.name}`);
        }
      }
    }
  }
  return served;
}

// ---------------------------------------------------------------------------------------------
// Stage 2: candidate sources, per declared source kind, in `sourceNamespaces` order, by name.

/** An object of a source kind in a source namespace that asks to be mirrored. */
interface Candidate {
  kind: DeclaredKind<SourceKind>;
  source: KubeObject;
  from: SourceRef;
}

function candidateSources(input: SyncInput, config: Config): Candidate[] {
  const candidates: Candidate[] = [];
  // Companion kinds are never sources: their objects come with the mirrors that need them.
  for (const kind of declaredInRole(input.kinds, "source")) {
    for (const namespace of config.sourceNamespaces) {
      for (const source of objectsIn(groupOf(input.related, kind), namespace)) {
        if (isSelectedSource(source, config))
          candidates.push({ kind, source, from: { namespace, name: source.metadata.name } });
      }
    }
  }
  return candidates;
}

/** Guard: annotated as a source (and not a mirror), and matched by config sourceSelector. */
function isSelectedSource(object: KubeObject, config: Config): boolean {
  return (
    isSource(object) &&
    (config.sourceSelector === undefined || config.sourceSelector.matches(object.metadata.labels))
  );
}

// ---------------------------------------------------------------------------------------------
// Stage 3: a decision per candidate, in order. The first source namespace in config order claims
// a name of a kind; a later one offering it is reported.

interface Decision {
  /** The mirror kept or made, if any. */
  mirror?: Desired | undefined;
  /** Companions the mirror needs beside it. */
  companions: readonly KubeObject[];
  candidate: Candidate;
  /** Whether the candidate claims its name (later source namespaces are then in conflict). */
  claims: boolean;
  /** The source's annotations are invalid (its targets are unknown). */
  invalid: boolean;
  issues: Issue[];
}

/** The companions of most decisions: one array for all, never written. */
const NO_COMPANIONS: readonly KubeObject[] = [];

/** Who claimed each name of a declared kind first. */
class Claims {
  private readonly byKind = new Map<DeclaredKind, Map<string, SourceRef>>();

  get({ kind, from }: Candidate): SourceRef | undefined {
    return this.byKind.get(kind)?.get(from.name);
  }

  claim({ kind, from }: Candidate): void {
    let names = this.byKind.get(kind);
    if (names === undefined) {
      names = new Map();
      this.byKind.set(kind, names);
    }
    names.set(from.name, from);
  }
}

/**
 * Kinds decided first (SourceKind.decidedFirst: Secrets) come first, and the others are decided
 * knowing their mirrors: an Ingress or IngressRoute mirror reports a TLS Secret it names as missing
 * unless this answer mirrors it (BranchFacts.hasSecret). Claims are per kind and status lines are
 * sorted, so this order changes nothing else; the other kinds keep theirs (companions are merged
 * in it).
 */
function decideAll(candidates: readonly Candidate[], target: Target): Decision[] {
  const claims = new Claims();
  const first = decideInOrder(candidates.filter(isDecidedFirst), target, claims);
  const knowingFirst: Target = {
    ...target,
    branch: target.branch.withMirrors(mirrorsOf(first).map((mirror) => mirror.object)),
  };
  const others = candidates.filter((candidate) => !isDecidedFirst(candidate));
  return [...first, ...decideInOrder(others, knowingFirst, claims)];
}

function decideInOrder(
  candidates: readonly Candidate[],
  target: Target,
  claims: Claims,
): Decision[] {
  return candidates.map((candidate) => {
    const decision = decide(candidate, target, claims);
    if (decision.claims) claims.claim(candidate);
    return decision;
  });
}

const isDecidedFirst = (candidate: Candidate) => candidate.kind.module.decidedFirst === true;

/** The guards, in order; the first that applies decides. */
function decide(candidate: Candidate, target: Target, claims: Claims): Decision {
  const parsed = parseSourceAnnotations(candidate.source.metadata.annotations ?? {});
  if (!parsed.ok) return keepExistingMirror(candidate, parsed.errors, target, claims);
  if (!isTargetOf(parsed.spec, target.input.namespace)) return notTargeted(candidate);
  const warnings = parsed.warnings.map((w) =>
    issueOf(candidate, Reason.IgnoredAnnotation, formatFieldError(w)),
  );
  const earlier = claimedByEarlierSource(candidate, claims);
  if (earlier !== undefined) return withheld(candidate, false, [...warnings, earlier]);
  const held = skippedByNamespace(candidate, target) ?? unmanagedObjectPresent(candidate, target);
  if (held !== undefined) return withheld(candidate, true, [...warnings, held]);
  return mirrored(candidate, parsed.spec, target, warnings);
}

function issueOf(candidate: Candidate, reason: Reason, message: string): Issue {
  return {
    reason,
    kind: candidate.kind.module.kind,
    name: candidate.from.name,
    source: candidate.from,
    message,
  };
}

/** Guard: the namespace is not a target of this source. Nothing is reported or claimed. */
function notTargeted(candidate: Candidate): Decision {
  return withheld(candidate, false, []);
}

function withheld(candidate: Candidate, claims: boolean, issues: Issue[]): Decision {
  return { companions: NO_COMPANIONS, candidate, claims, invalid: false, issues };
}

/**
 * Guard: invalid annotations. Fail static: a typo must not delete mirrors, so the existing mirror
 * is kept unchanged, unless another source claimed the name or the namespace asks for it to go.
 * Whether the source targets this namespace is unknown, so the problem is reported in every one.
 */
function keepExistingMirror(
  candidate: Candidate,
  errors: readonly FieldError[],
  target: Target,
  claims: Claims,
): Decision {
  const { kind, from } = candidate;
  const existing = ourAttachment(target, kind, `${target.name}/${from.name}`);
  const keep =
    existing !== undefined &&
    replicatedFrom(existing) === `${from.namespace}/${from.name}` &&
    claims.get(candidate) === undefined &&
    !target.skip.skips(kind.module.kind, from.name);
  const message = `${keep ? "existing mirror kept unchanged" : "no mirror created"}: ${errors.map(formatFieldError).join("; ")}`;
  const mirror =
    keep && existing !== undefined
      ? desiredObject(
          kind,
          kind.module.rebuild(existing, { namespace: target.name, apiVersion: kind.apiVersion }),
          from,
        )
      : undefined;
  return {
    mirror,
    companions: NO_COMPANIONS,
    candidate,
    claims: keep,
    invalid: true,
    issues: [issueOf(candidate, Reason.InvalidAnnotation, message)],
  };
}

/** Guard: a source in an earlier source namespace offers the same name. */
function claimedByEarlierSource(candidate: Candidate, claims: Claims): Issue | undefined {
  const winner = claims.get(candidate);
  if (winner === undefined) return undefined;
  return issueOf(
    candidate,
    Reason.Conflict,
    `${winner.namespace}/${winner.name} offers the same name and comes first in sourceNamespaces`,
  );
}

/** Guard: the namespace's skip annotation names the mirror. */
function skippedByNamespace(candidate: Candidate, target: Target): Issue | undefined {
  if (!target.skip.skips(candidate.kind.module.kind, candidate.from.name)) return undefined;
  return issueOf(candidate, Reason.Skipped, `namespace annotation ${Annotation.skip} names it`);
}

/** Guard: an object of the mirror's kind and name exists in the namespace and is not ours. */
function unmanagedObjectPresent(candidate: Candidate, target: Target): Issue | undefined {
  const { kind, from } = candidate;
  const at = `${target.name}/${from.name}`;
  if (!isUnmanaged(target, kind, at)) return undefined;
  return issueOf(
    candidate,
    Reason.Conflict,
    `${kind.module.kind}/${from.name} already exists in ${target.name} and is not managed by kube-external-sync: left alone`,
  );
}

/**
 * Our attachment of `kind` at `namespace/name`, if Metacontroller observed one: in the request's
 * attachments, or not yet there but already in related (Metacontroller reads the two from its
 * cache one after the other, and our mirror can be created in between).
 */
function ourAttachment(target: Target, kind: DeclaredKind, at: string): KubeObject | undefined {
  const groups = {
    attachments: groupOf(target.input.attachments, kind),
    related: groupOf(target.input.related, kind),
  };
  return observedAttachment(groups, at, target.parent);
}

/** An object of `kind` is at `namespace/name`, and it is not ours. */
function isUnmanaged(target: Target, kind: DeclaredKind, at: string): boolean {
  return (
    groupOf(target.input.related, kind)[at] !== undefined &&
    ourAttachment(target, kind, at) === undefined
  );
}

/** What a kind module is told about the mirror it shapes. */
function mirrorContext(kind: DeclaredKind, spec: SourceSpec, target: Target): MirrorContext {
  return {
    namespace: target.name,
    apiVersion: kind.apiVersion,
    spec,
    config: target.config,
    declared: target.declared,
    branch: target.branch,
  };
}

/** The kind module shapes the mirror; it is then withheld if it would serve a source's host. */
function mirrored(
  candidate: Candidate,
  spec: SourceSpec,
  target: Target,
  warnings: Issue[],
): Decision {
  const { kind, source, from } = candidate;
  const result = kind.module.mirror(source, mirrorContext(kind, spec, target));
  const issues = [
    ...warnings,
    ...result.remarks.map((r) => issueOf(candidate, r.reason, r.message)),
  ];
  if (result.mirror === undefined) return withheld(candidate, true, issues);
  const collision = hostServedBySource(candidate, result.mirror, target);
  if (collision !== undefined) return withheld(candidate, true, [...issues, collision]);
  const merged = mergeSafe(result.mirror);
  issues.push(...merged.remarks.map((r) => issueOf(candidate, r.reason, r.message)));
  return {
    mirror: desiredObject(kind, merged.mirror, from),
    companions: result.companions ?? NO_COMPANIONS,
    candidate,
    claims: true,
    invalid: false,
    issues,
  };
}

/**
 * No list of the mirror's spec that Metacontroller's apply merges by key holds a key twice: it
 * would lose the repeat on its first update (lib/list-merge.ts). Repeats are left out, and
 * reported, as a Service's repeated port numbers are.
 */
function mergeSafe(mirror: KubeObject): { mirror: KubeObject; remarks: Remark[] } {
  const collisions = listMergeCollisions(mirror.spec, "spec");
  if (collisions.length === 0) return { mirror, remarks: [] };
  return {
    mirror: { ...mirror, spec: withoutCollisions(mirror.spec) },
    remarks: collisions.map((c) => ({ reason: Reason.NotCopied, message: describeCollision(c) })),
  };
}

/** Guard: the mirror would serve a host that an object in a source namespace serves. */
function hostServedBySource(
  candidate: Candidate,
  mirror: KubeObject,
  target: Target,
): Issue | undefined {
  const taken = routesOf(candidate.kind.module, mirror).find((r) =>
    target.servedHosts().has(r.host),
  );
  if (taken === undefined) return undefined;
  return issueOf(
    candidate,
    Reason.HostCollision,
    `would serve ${taken.host}, which ${target.servedHosts().get(taken.host)} serves: not mirrored (use host-template, or another namespace name)`,
  );
}

// ---------------------------------------------------------------------------------------------
// Stage 4: companions (objects a mirror needs beside it), merged by name and checked for conflicts
// like mirrors.

/** An object of the answer: a mirror or a companion. */
interface Desired {
  kind: DeclaredKind;
  object: KubeObject;
  /** objectKey(object), made once: merging, ordering and status all look objects up by it. */
  key: string;
  /** The source, for reports; undefined for a kept companion. */
  from?: SourceRef | undefined;
}

function desiredObject(kind: DeclaredKind, object: KubeObject, from?: SourceRef): Desired {
  return { kind, object, key: objectKey(object), from };
}

function mirrorsOf(decisions: readonly Decision[]): Desired[] {
  const mirrors: Desired[] = [];
  for (const { mirror } of decisions) if (mirror !== undefined) mirrors.push(mirror);
  return mirrors;
}

function companionsOf(
  decisions: readonly Decision[],
  mirrors: readonly Desired[],
  target: Target,
): { desired: Desired[]; issues: Issue[] } {
  const requested = requestedCompanions(decisions, declaredInRole(target.input.kinds, "companion"));
  const desired: Desired[] = [];
  const issues: Issue[] = [];
  // Most answers ask for no companion: nothing to check against the mirrors.
  if (requested.size === 0) return { desired, issues };
  const desiredKeys = new Set(mirrors.map((d) => d.key));
  for (const { object, from } of requested.values()) {
    const kind = target.input.kinds.find(
      (k) => k.apiVersion === object.apiVersion && k.module.kind === object.kind,
    );
    if (kind === undefined || desiredKeys.has(objectKey(object))) continue;
    const at = `${object.metadata.namespace}/${object.metadata.name}`;
    if (isUnmanaged(target, kind, at)) {
      issues.push({
        reason: Reason.Conflict,
        kind: object.kind,
        name: object.metadata.name,
        source: from,
        message: `${object.kind} ${at} already exists and is not managed by kube-external-sync: left alone`,
      });
      continue;
    }
    const companion = desiredObject(kind, object);
    desiredKeys.add(companion.key);
    desired.push(companion);
  }
  return { desired, issues };
}

/** Companions by object key, in request order; several mirrors asking for one are merged. */
function requestedCompanions(
  decisions: readonly Decision[],
  companionKinds: readonly DeclaredKind<CompanionKind>[],
): Map<string, { object: KubeObject; from: SourceRef }> {
  const requested = new Map<string, { object: KubeObject; from: SourceRef }>();
  for (const { companions, candidate } of decisions) {
    for (const companion of companions) {
      const key = objectKey(companion);
      const seen = requested.get(key);
      const module = companionKinds.find((k) => k.module.kind === companion.kind)?.module;
      if (seen === undefined) requested.set(key, { object: companion, from: candidate.from });
      else if (module !== undefined)
        requested.set(key, { ...seen, object: module.mergeCompanions(seen.object, companion) });
    }
  }
  return requested;
}

/** `desired` plus every observed companion, merged into a wanted one of the same name. */
function keepObservedCompanions(desired: readonly Desired[], target: Target): Desired[] {
  const out = [...desired];
  for (const kind of declaredInRole(target.input.kinds, "companion")) {
    for (const observed of Object.values(groupOf(target.input.attachments, kind))) {
      const namespace = observed.metadata.namespace ?? target.name;
      const kept = kind.module.rebuild(observed, { namespace, apiVersion: kind.apiVersion });
      const key = objectKey(observed);
      const same = out.findIndex((d) => d.key === key);
      const wanted = out[same];
      // A companion still wanted by valid mirrors keeps what the kept mirrors relied on too.
      if (wanted === undefined) out.push(desiredObject(kind, kept));
      else out[same] = { ...wanted, object: kind.module.mergeCompanions(wanted.object, kept) };
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stage 5: the answer: status, counts, attachments in a fixed order.

/** Mirrors that route the same host and path: both are kept, and reported. */
function hostCollisions(desired: readonly Desired[]): Issue[] {
  const byRoute = new Map<string, Desired[]>();
  for (const owner of desired) {
    for (const { host, path } of routesOf(owner.kind.module, owner.object)) {
      const route = `${host}${path}`;
      const owners = byRoute.get(route) ?? [];
      if (!owners.includes(owner)) owners.push(owner);
      byRoute.set(route, owners);
    }
  }
  const issues: Issue[] = [];
  for (const [route, owners] of byRoute) {
    if (owners.length < 2) continue;
    for (const owner of owners) {
      const others = owners
        .filter((o) => o !== owner)
        .map((o) => `${o.object.kind}/${o.object.metadata.name}`)
        .join(", ");
      issues.push({
        reason: Reason.HostCollision,
        kind: owner.object.kind,
        name: owner.object.metadata.name,
        source: owner.from,
        message: `${route} is also served by ${others}; set host-template on a source to tell them apart`,
      });
    }
  }
  return issues;
}

/** Desired objects per kind; a kind declared in two API groups (Traefik's) is counted once. */
function mirrorCounts(kinds: readonly DeclaredKind[], desired: readonly Desired[]) {
  const counts: Record<string, number> = {};
  for (const kind of [...kinds].sort((a, b) => compareStrings(a.module.kind, b.module.kind))) {
    const mine = desired.filter((d) => d.kind === kind).length;
    counts[kind.module.kind] = (counts[kind.module.kind] ?? 0) + mine;
  }
  return counts;
}

/** `Kind namespace/name` of each invalid source, once, sorted. */
function invalidSourceIds(decisions: readonly Decision[]): string[] {
  const ids = decisions
    .filter((d) => d.invalid)
    .map(({ candidate: { kind, from } }) => `${kind.module.kind} ${from.namespace}/${from.name}`);
  return [...new Set(ids)].sort();
}

/**
 * The request's attachments, plus each desired object Metacontroller has already created but not
 * yet listed there (it passes Metacontroller's child test in related): all observed in place.
 */
function observedAttachments(target: Target, desired: readonly Desired[]): ObjectMap {
  const observed: ObjectMap = { ...target.input.attachments };
  for (const { kind, object } of desired) {
    const at = `${object.metadata.namespace}/${object.metadata.name}`;
    if (groupOf(observed, kind)[at] !== undefined) continue;
    const seen = ourAttachment(target, kind, at);
    if (seen !== undefined) observed[kind.key] = { ...groupOf(observed, kind), [at]: seen };
  }
  return observed;
}

function answer(
  target: Target,
  desired: readonly Desired[],
  issues: readonly Issue[],
  invalidIds: string[],
): SyncOutcome {
  const { input } = target;
  const mirrors = mirrorCounts(input.kinds, desired);
  const status = buildStatus(issues);
  const attachments = desired.toSorted((a, b) => compareStrings(a.key, b.key)).map((d) => d.object);
  return {
    response: {
      ...namespaceMetadata({
        desired: attachments,
        observed: () => observedAttachments(target, desired),
        issues,
        status,
        hosts: desired.flatMap((d) => routesOf(d.kind.module, d.object).map((r) => r.host)),
        labels: input.namespace.metadata.labels,
      }),
      attachments,
      resyncAfterSeconds: 0,
    },
    status,
    counts: {
      mirrors,
      conflicts: issues.filter((i) => i.reason === Reason.Conflict).length,
      invalidSources: invalidIds.length,
      invalidSourceIds: invalidIds,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Shared small helpers.

/** A declared kind's group of a request map; request parsing made sure it is there. */
function groupOf(map: SyncInput["related"], kind: DeclaredKind): ObjectsByName {
  return map[kind.key] ?? {};
}

/**
 * The objects Metacontroller must send with every sync of this namespace: each declared kind in
 * each source namespace, and in the namespace itself (to see what is not ours). It depends only on
 * the namespace's name and the config, because Metacontroller caches it per namespace.
 */
export function computeCustomize(input: CustomizeInput, config: Config): CustomizeResponse {
  const targetName = input.namespace.metadata.name;
  if (!isEligibleNamespace(targetName, config)) return { relatedResources: [] };
  const labelSelector = config.sourceSelector ? toLabelSelector(config.sourceSelector) : undefined;
  const relatedResources = input.kinds.flatMap(({ module, apiVersion }): RelatedResourceRule[] => {
    const { resource } = module;
    if (module.role === "companion") {
      // Companions in source namespaces, by name: unmanaged objects of those names must be seen
      // (whatever their labels), and changes to other namespaces' companions must not matter here.
      const names = module.companionNames(targetName);
      return config.sourceNamespaces.map((namespace) => ({
        apiVersion,
        resource,
        namespace,
        names,
      }));
    }
    const inSources = config.sourceNamespaces.map((namespace) =>
      labelSelector
        ? { apiVersion, resource, namespace, labelSelector }
        : { apiVersion, resource, namespace },
    );
    return [...inSources, { apiVersion, resource, namespace: targetName }];
  });
  return { relatedResources };
}
