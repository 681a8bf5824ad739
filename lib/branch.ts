import { isSource, parseSkipList, parseSourceAnnotations, type SkipList } from "./annotations.ts";
import type { Config } from "./config.ts";
import { Annotation, TLS_SECRET_TYPE } from "./constants.ts";
import type { DeclaredKind } from "./kinds/index.ts";
import { whyNotMirrored } from "./kinds/secret.ts";
import { replicatedFrom } from "./metadata.ts";
import { isTargetOf } from "./targeting.ts";
import type { KubeObject, ObjectsByName, SyncRequest } from "./types.ts";

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
}

/** Objects of one kind in `namespace`, sorted by name (the engine's order). */
function objectsIn(map: ObjectsByName, namespace: string): KubeObject[] {
  const prefix = `${namespace}/`;
  return Object.keys(map)
    .filter((key) => key.startsWith(prefix))
    .sort()
    .map((key) => map[key] as KubeObject);
}

function declaredCore(kinds: readonly DeclaredKind[], kind: string): DeclaredKind | undefined {
  return kinds.find((k) => k.module.group === "" && k.module.kind === kind);
}

/** The names of the Services in `namespace` that are not in our attachments. */
function ownServiceNames(req: SyncRequest, key: string, namespace: string): Set<string> {
  const ours = req.attachments[key] ?? {};
  const names = new Set<string>();
  for (const service of objectsIn(req.related[key] ?? {}, namespace)) {
    if (ours[`${namespace}/${service.metadata.name}`] === undefined) {
      names.add(service.metadata.name);
    }
  }
  return names;
}

/**
 * The TLS Secrets the engine's answer mirrors into `namespace`: the same decisions it takes for
 * every source (first source namespace wins a name, skip, unmanaged conflict, fail-static keep of
 * an existing mirror), restricted to Secrets of type kubernetes.io/tls. test/branch.test.ts checks
 * it against the engine's answers.
 */
function mirroredTLSSecretNames(
  req: SyncRequest,
  key: string,
  namespace: string,
  skip: SkipList,
  config: Config,
): Set<string> {
  const related = req.related[key] ?? {};
  const ours = req.attachments[key] ?? {};
  const claimed = new Set<string>();
  const mirrored = new Set<string>();
  for (const sourceNamespace of config.sourceNamespaces) {
    for (const source of objectsIn(related, sourceNamespace)) {
      if (!isSource(source)) continue;
      if (config.sourceSelector && !config.sourceSelector.matches(source.metadata.labels)) continue;
      const name = source.metadata.name;
      const existing = ours[`${namespace}/${name}`];
      const parsed = parseSourceAnnotations(source.metadata.annotations ?? {});
      if (!parsed.ok) {
        // Fail static: an existing mirror of this source is kept unchanged.
        const kept =
          existing !== undefined &&
          replicatedFrom(existing) === `${sourceNamespace}/${name}` &&
          !claimed.has(name) &&
          !skip.skips("Secret", name);
        if (kept) {
          claimed.add(name);
          if (existing.type === TLS_SECRET_TYPE) mirrored.add(name);
        }
        continue;
      }
      if (!isTargetOf(parsed.spec, req.namespace) || claimed.has(name)) continue;
      claimed.add(name);
      if (skip.skips("Secret", name)) continue;
      const unmanaged = related[`${namespace}/${name}`] !== undefined && existing === undefined;
      if (!unmanaged && whyNotMirrored(source) === undefined) mirrored.add(name);
    }
  }
  return mirrored;
}

/** The facts about the branch namespace of a sync request that route and TLS mirrors need. */
export function branchFacts(
  req: SyncRequest,
  kinds: readonly DeclaredKind[],
  config: Config,
): BranchFacts {
  const namespace = req.namespace.metadata.name;
  // Bad skip items are reported by the engine; here they are ignored the same way.
  const { skip } = parseSkipList(
    req.namespace.metadata.annotations?.[Annotation.skip],
    kinds.map((k) => k.module.kind),
  );
  const services = declaredCore(kinds, "Service");
  const own = services ? ownServiceNames(req, services.key, namespace) : new Set<string>();
  const secrets = declaredCore(kinds, "Secret");
  return {
    runsService: (name) => own.has(name) || skip.skips("Service", name),
    mirroredTLSSecrets: secrets
      ? mirroredTLSSecretNames(req, secrets.key, namespace, skip, config)
      : new Set(),
  };
}
