import type { SkipList } from "./annotations.ts";
import type { DeclaredKind } from "./kinds/index.ts";
import { observedAttachment } from "./metadata.ts";
import { attachmentParentOf, objectsIn, type SyncInput } from "./request.ts";
import type { KubeObject } from "./types.ts";

// What the branch namespace itself holds, as the kind modules need it to decide per reference
// (docs/design.md, Backends follow the branch; Secret (TLS, opt-in)). A pure function of the sync
// request, computed once per request before any mirror; the engine adds the Secrets it mirrors.

export interface BranchFacts {
  /**
   * True when the branch runs its own Service `name`: a Service of that name in the namespace
   * that is not our mirror, or one the namespace's skip annotation names (the branch is about to
   * deploy it). Route mirrors then send that backend to it rather than to the baseline.
   */
  runsService(name: string): boolean;
  /**
   * True when a Secret `name` will be in the namespace: mirrored by this answer, or the branch's
   * own (seen only when the controller declares Secrets). A TLS reference to it needs no hint.
   */
  hasSecret(name: string): boolean;
  /** The same facts, knowing what this answer mirrors of the kinds decided first. */
  withMirrors(mirrors: readonly KubeObject[]): BranchFacts;
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

/**
 * The facts about the branch namespace of a sync request that route and TLS mirrors need; `skip`
 * is the namespace's skip annotation as the engine parsed it. Which Secrets the answer mirrors is
 * known once the engine has decided the kinds decided first (withMirrors); until then, none.
 */
export function branchFacts(input: SyncInput, skip: SkipList): BranchFacts {
  const { kinds } = input;
  const namespace = input.namespace.metadata.name;
  const services = declaredCore(kinds, "Service");
  const ownServices = services ? ownObjectNames(input, services.key, namespace) : new Set();
  const secrets = declaredCore(kinds, "Secret");
  const ownSecrets = secrets ? ownObjectNames(input, secrets.key, namespace) : new Set();
  const knowing = (mirrors: readonly KubeObject[]): BranchFacts => {
    const mirroredSecrets = new Set(
      mirrors.filter((m) => m.kind === "Secret").map((m) => m.metadata.name),
    );
    return {
      runsService: (name) => ownServices.has(name) || skip.skips("Service", name),
      hasSecret: (name) => mirroredSecrets.has(name) || ownSecrets.has(name),
      withMirrors: knowing,
    };
  };
  return knowing([]);
}
