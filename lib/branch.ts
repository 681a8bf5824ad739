import { isSource, parseSourceAnnotations, type SkipList } from "./annotations.ts";
import type { Config } from "./config.ts";
import { TLS_SECRET_TYPE } from "./constants.ts";
import type { DeclaredKind } from "./kinds/index.ts";
import { whyNotMirrored } from "./kinds/secret.ts";
import { type AttachmentParent, observedAttachment, replicatedFrom } from "./metadata.ts";
import { attachmentParentOf, objectsIn, type SyncInput } from "./request.ts";
import { isTargetOf } from "./targeting.ts";
import type { KubeObject, ObjectsByName } from "./types.ts";

// What the branch namespace itself holds, as the kind modules need it to decide per reference
// (docs/design.md, Backends follow the branch; Secret (TLS, opt-in)). A pure function of the sync
// request, computed once per request before any mirror.

export interface BranchFacts {
  /**
   * True when the branch runs its own Service `name`: a Service of that name in the namespace
   * that is not our mirror, or one the namespace's skip annotation names (the branch is about to
   * deploy it). Route mirrors then send that backend to it rather than to the baseline.
   */
  runsService(name: string): boolean;
  /** Names of the TLS Secrets this answer mirrors into the namespace. */
  mirroredTLSSecrets: ReadonlySet<string>;
  /**
   * True when a Secret `name` will be in the namespace: mirrored by this answer, or the branch's
   * own (seen only when the controller declares Secrets). A TLS reference to it needs no hint.
   */
  hasSecret(name: string): boolean;
}

function declaredCore(kinds: readonly DeclaredKind[], kind: string): DeclaredKind | undefined {
  return kinds.find((k) => k.module.group === "" && k.module.kind === kind);
}

/**
 * Names of the objects of one kind in `namespace` that are not ours, the branch's own: neither in
 * our attachments nor passing Metacontroller's child test (a mirror just created, not yet listed).
 */
function ownObjectNames(input: SyncInput, key: string, namespace: string): Set<string> {
  const groups = { attachments: input.attachments[key] ?? {}, related: input.related[key] ?? {} };
  const parent = attachmentParentOf(input);
  const names = new Set<string>();
  for (const object of objectsIn(groups.related, namespace)) {
    const at = `${namespace}/${object.metadata.name}`;
    if (observedAttachment(groups, at, parent) === undefined) names.add(object.metadata.name);
  }
  return names;
}

/** The TLS Secrets of one namespace, decided source by source in the engine's order. */
interface SecretDecisions {
  input: SyncInput;
  namespace: string;
  skip: SkipList;
  /** The Secrets group of the request's attachments and related. */
  groups: { attachments: ObjectsByName; related: ObjectsByName };
  parent: AttachmentParent;
  /** Names a source already claimed: later source namespaces offering them are in conflict. */
  claimed: Set<string>;
  mirrored: Set<string>;
}

/** Guard, as the engine's: annotated as a source, and matched by config sourceSelector. */
function isSelectedSource(object: KubeObject, config: Config): boolean {
  return (
    isSource(object) &&
    (config.sourceSelector === undefined || config.sourceSelector.matches(object.metadata.labels))
  );
}

/** Fail static, as the engine: an existing mirror of a source with invalid annotations is kept. */
function keepExistingSecret(source: KubeObject, sourceNamespace: string, d: SecretDecisions): void {
  const name = source.metadata.name;
  const existing = observedAttachment(d.groups, `${d.namespace}/${name}`, d.parent);
  const kept =
    existing !== undefined &&
    replicatedFrom(existing) === `${sourceNamespace}/${name}` &&
    !d.claimed.has(name) &&
    !d.skip.skips("Secret", name);
  if (!kept) return;
  d.claimed.add(name);
  if (existing.type === TLS_SECRET_TYPE) d.mirrored.add(name);
}

/** One source Secret: the engine's guards in its order (claim, skip, unmanaged, refusal). */
function decideSecret(source: KubeObject, sourceNamespace: string, d: SecretDecisions): void {
  const name = source.metadata.name;
  const parsed = parseSourceAnnotations(source.metadata.annotations ?? {});
  if (!parsed.ok) {
    keepExistingSecret(source, sourceNamespace, d);
    return;
  }
  if (!isTargetOf(parsed.spec, d.input.namespace) || d.claimed.has(name)) return;
  d.claimed.add(name);
  if (d.skip.skips("Secret", name)) return;
  const at = `${d.namespace}/${name}`;
  const unmanaged =
    d.groups.related[at] !== undefined && observedAttachment(d.groups, at, d.parent) === undefined;
  if (!unmanaged && whyNotMirrored(source) === undefined) d.mirrored.add(name);
}

/**
 * The TLS Secrets the engine's answer mirrors into `namespace`: the same decisions it takes for
 * every source (first source namespace wins a name, skip, unmanaged conflict, fail-static keep of
 * an existing mirror), restricted to Secrets of type kubernetes.io/tls. test/branch.test.ts checks
 * it against the engine's answers.
 */
function mirroredTLSSecretNames(
  input: SyncInput,
  key: string,
  namespace: string,
  skip: SkipList,
  config: Config,
): Set<string> {
  const decisions: SecretDecisions = {
    input,
    namespace,
    skip,
    groups: { attachments: input.attachments[key] ?? {}, related: input.related[key] ?? {} },
    parent: attachmentParentOf(input),
    claimed: new Set(),
    mirrored: new Set(),
  };
  for (const sourceNamespace of config.sourceNamespaces) {
    for (const source of objectsIn(decisions.groups.related, sourceNamespace)) {
      if (isSelectedSource(source, config)) decideSecret(source, sourceNamespace, decisions);
    }
  }
  return decisions.mirrored;
}

/**
 * The facts about the branch namespace of a sync request that route and TLS mirrors need; `skip`
 * is the namespace's skip annotation as the engine parsed it.
 */
export function branchFacts(input: SyncInput, config: Config, skip: SkipList): BranchFacts {
  const { kinds } = input;
  const namespace = input.namespace.metadata.name;
  const services = declaredCore(kinds, "Service");
  const ownServices = services ? ownObjectNames(input, services.key, namespace) : new Set();
  const secrets = declaredCore(kinds, "Secret");
  const mirroredTLSSecrets: ReadonlySet<string> = secrets
    ? mirroredTLSSecretNames(input, secrets.key, namespace, skip, config)
    : new Set();
  const ownSecrets = secrets ? ownObjectNames(input, secrets.key, namespace) : new Set();
  return {
    runsService: (name) => ownServices.has(name) || skip.skips("Service", name),
    mirroredTLSSecrets,
    hasSecret: (name) => mirroredTLSSecrets.has(name) || ownSecrets.has(name),
  };
}
