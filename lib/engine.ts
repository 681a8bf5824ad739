import { isSource, parseSkipList, parseSourceAnnotations } from "./annotations.ts";
import type { Config } from "./config.ts";
import { Annotation, Reason } from "./constants.ts";
import { formatFieldError } from "./errors.ts";
import { type DeclaredKind, declaredInRole, declaredKinds } from "./kinds/index.ts";
import { routesOf } from "./kinds/kind.ts";
import { compareStrings, replicatedFrom } from "./metadata.ts";
import { RequestError } from "./request.ts";
import { toLabelSelector } from "./selector.ts";
import {
  buildStatus,
  ineligibleNamespaceMetadata,
  type NamespaceStatus,
  namespaceMetadata,
} from "./status.ts";
import { isEligibleNamespace, isTargetOf } from "./targeting.ts";
import type {
  CustomizeRequest,
  CustomizeResponse,
  Issue,
  KubeObject,
  RelatedResourceRule,
  SyncRequest,
  SyncResponse,
} from "./types.ts";

// The engine: one sync request in, the complete desired state of one namespace out. A pure
// function of its input, so an unchanged cluster gets byte-identical answers.

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

interface Claim {
  source: string;
}

/** Identifies an object across kinds, groups and namespaces; also the order of the answer. */
function objectKey(o: KubeObject): string {
  return `${o.kind} ${o.apiVersion} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

/** Objects of one kind in `namespace`, sorted by name. */
function objectsIn(map: Record<string, KubeObject>, namespace: string): KubeObject[] {
  const prefix = `${namespace}/`;
  return Object.keys(map)
    .filter((k) => k.startsWith(prefix))
    .sort()
    .map((k) => map[k] as KubeObject);
}

export function computeSync(req: SyncRequest, config: Config): SyncOutcome {
  const kinds = declaredKinds(req.attachmentRules);
  const targetNamespace = req.namespace.metadata.name;
  if (!isEligibleNamespace(targetNamespace, config)) {
    // No mirrors belong here; null removes what the hook wrote before a config change.
    return {
      response: {
        ...ineligibleNamespaceMetadata(),
        attachments: [],
        resyncAfterSeconds: 0,
      },
      status: undefined,
      counts: { mirrors: {}, conflicts: 0, invalidSources: 0, invalidSourceIds: [] },
    };
  }

  for (const key of Object.keys(req.attachments)) {
    if (!kinds.some((k) => k.key === key)) {
      throw new RequestError(
        `invalid hook request: request.attachments: Unsupported value: ${JSON.stringify(key)}: not declared in controller.spec.attachments`,
      );
    }
  }

  const issues: Issue[] = [];
  const { skip, errors: skipErrors } = parseSkipList(
    req.namespace.metadata.annotations?.[Annotation.skip],
    kinds.map((k) => k.module.kind),
  );
  for (const e of skipErrors) {
    issues.push({
      reason: Reason.InvalidAnnotation,
      object: `Namespace/${targetNamespace}`,
      message: `${formatFieldError(e)}; item ignored`,
    });
  }

  const desired: { kind: DeclaredKind; mirror: KubeObject }[] = [];
  const companionKinds = declaredInRole(kinds, "companion");
  const companions = new Map<string, { object: KubeObject; source: string }>();
  let anyInvalid = false;
  const declared = (group: string, kindName: string) =>
    kinds.find((k) => k.module.group === group && k.module.kind === kindName)?.apiVersion;
  // Hosts served in the source namespaces, by any object of a routing kind. A mirror never serves
  // one: a namespace named like a host label (`api`) would otherwise take `api.example.com` over.
  let servedHosts: Map<string, string> | undefined;
  const hostsServedBySources = (): Map<string, string> => {
    if (servedHosts === undefined) {
      servedHosts = new Map();
      for (const k of declaredInRole(kinds, "source")) {
        for (const ns of config.sourceNamespaces) {
          for (const o of k.module.routes ? objectsIn(req.related[k.key] ?? {}, ns) : []) {
            for (const r of routesOf(k.module, o)) {
              if (r.host !== "" && !servedHosts.has(r.host)) {
                servedHosts.set(r.host, `${o.kind} ${ns}/${o.metadata.name}`);
              }
            }
          }
        }
      }
    }
    return servedHosts;
  };
  for (const kind of kinds) {
    // Metacontroller always sends a group for every declared attachment and every customize rule.
    // A missing group means an incomplete request (for example no customize hook configured), and
    // answering it would delete mirrors.
    const related = req.related[kind.key];
    const ours = req.attachments[kind.key];
    if (related === undefined || ours === undefined) {
      const field = related === undefined ? "related" : "attachments";
      throw new RequestError(
        `invalid hook request: request.${field}: Required value: no ${JSON.stringify(kind.key)} group (is the customize hook configured?)`,
      );
    }
    // Companion kinds are never sources: their objects come with the mirrors that need them.
    const module = kind.module;
    if (module.role !== "source") continue;
    // First source namespace in config order wins a name; later ones are reported.
    const claims = new Map<string, Claim>();

    for (const sourceNamespace of config.sourceNamespaces) {
      for (const source of objectsIn(related, sourceNamespace)) {
        if (!isSource(source)) continue;
        if (config.sourceSelector && !config.sourceSelector.matches(source.metadata.labels))
          continue;
        const name = source.metadata.name;
        const object = `${kind.module.kind}/${name}`;
        const sourceId = `${sourceNamespace}/${name}`;
        const report = (reason: Reason, message: string) =>
          issues.push({ reason, object, source: sourceId, message });

        const parsed = parseSourceAnnotations(source.metadata.annotations ?? {});
        if (!parsed.ok) {
          anyInvalid = true;
          // Fail static: a typo must not delete mirrors. Keep the existing one unchanged, unless
          // the namespace itself asks for it to go. Whether the source targets this namespace is
          // unknown, so the problem is reported in every namespace.
          const existing = ours[`${targetNamespace}/${name}`];
          const keep =
            existing !== undefined &&
            replicatedFrom(existing) === sourceId &&
            !claims.has(name) &&
            !skip.skips(kind.module.kind, name);
          if (keep) {
            claims.set(name, { source: sourceId });
            desired.push({
              kind,
              mirror: kind.module.rebuild(existing, {
                namespace: targetNamespace,
                apiVersion: kind.apiVersion,
              }),
            });
          }
          const errors = parsed.errors.map(formatFieldError).join("; ");
          report(
            Reason.InvalidAnnotation,
            `${keep ? "existing mirror kept unchanged" : "no mirror created"}: ${errors}`,
          );
          continue;
        }
        if (!isTargetOf(parsed.spec, req.namespace)) continue;
        for (const w of parsed.warnings) report(Reason.IgnoredAnnotation, formatFieldError(w));

        const winner = claims.get(name);
        if (winner !== undefined) {
          report(
            Reason.Conflict,
            `${winner.source} offers the same name and comes first in sourceNamespaces`,
          );
          continue;
        }
        claims.set(name, { source: sourceId });
        if (skip.skips(kind.module.kind, name)) {
          report(Reason.Skipped, `namespace annotation ${Annotation.skip} names it`);
          continue;
        }
        if (
          related[`${targetNamespace}/${name}`] !== undefined &&
          ours[`${targetNamespace}/${name}`] === undefined
        ) {
          report(
            Reason.Conflict,
            `${object} already exists in ${targetNamespace} and is not managed by kube-external-sync: left alone`,
          );
          continue;
        }
        const result = module.mirror(source, {
          namespace: targetNamespace,
          apiVersion: kind.apiVersion,
          spec: parsed.spec,
          config,
          declared,
        });
        for (const r of result.remarks) report(r.reason, r.message);
        const taken =
          result.mirror &&
          routesOf(module, result.mirror).find((r) => hostsServedBySources().has(r.host));
        if (result.mirror !== undefined && taken !== undefined) {
          report(
            Reason.HostCollision,
            `would serve ${taken.host}, which ${hostsServedBySources().get(taken.host)} serves: not mirrored (use host-template, or another namespace name)`,
          );
        } else if (result.mirror !== undefined) {
          desired.push({ kind, mirror: result.mirror });
          for (const c of result.companions ?? []) {
            const key = objectKey(c);
            const seen = companions.get(key);
            const companionKind = companionKinds.find((k) => k.module.kind === c.kind)?.module;
            companions.set(
              key,
              seen && companionKind
                ? { ...seen, object: companionKind.mergeCompanions(seen.object, c) }
                : (seen ?? { object: c, source: sourceId }),
            );
          }
        }
      }
    }
  }

  // Companions (objects a mirror needs beside it) are checked for conflicts like mirrors. While any
  // source is invalid, existing companions are kept too: the kept mirrors may rely on them.
  const desiredKeys = new Set(desired.map((d) => objectKey(d.mirror)));
  for (const { object, source } of companions.values()) {
    const kind = kinds.find(
      (k) => k.apiVersion === object.apiVersion && k.module.kind === object.kind,
    );
    if (kind === undefined || desiredKeys.has(objectKey(object))) continue;
    const at = `${object.metadata.namespace}/${object.metadata.name}`;
    if (
      req.related[kind.key]?.[at] !== undefined &&
      req.attachments[kind.key]?.[at] === undefined
    ) {
      issues.push({
        reason: Reason.Conflict,
        object: `${object.kind}/${object.metadata.name}`,
        source,
        message: `${object.kind} ${at} already exists and is not managed by kube-external-sync: left alone`,
      });
      continue;
    }
    desiredKeys.add(objectKey(object));
    desired.push({ kind, mirror: object });
  }
  if (anyInvalid) {
    for (const kind of companionKinds) {
      for (const observed of Object.values(req.attachments[kind.key] ?? {})) {
        const namespace = observed.metadata.namespace ?? targetNamespace;
        const kept = kind.module.rebuild(observed, { namespace, apiVersion: kind.apiVersion });
        const same = desired.find((d) => objectKey(d.mirror) === objectKey(observed));
        // A companion still wanted by valid mirrors keeps what the kept mirrors relied on too.
        if (same === undefined) desired.push({ kind, mirror: kept });
        else same.mirror = kind.module.mergeCompanions(same.mirror, kept);
      }
    }
  }

  issues.push(...hostCollisions(desired));

  // Counted per kind; a kind declared in two API groups (Traefik's) is counted once.
  const mirrors: Record<string, number> = {};
  for (const k of [...kinds].sort((a, b) => compareStrings(a.module.kind, b.module.kind))) {
    mirrors[k.module.kind] =
      (mirrors[k.module.kind] ?? 0) + desired.filter((d) => d.kind === k).length;
  }
  const status = buildStatus(issues);
  const attachments = desired
    .map((d) => ({ key: objectKey(d.mirror), mirror: d.mirror }))
    .sort((a, b) => compareStrings(a.key, b.key))
    .map((d) => d.mirror);
  const invalidSourceIds = [
    ...new Set(
      issues
        .filter((i) => i.reason === Reason.InvalidAnnotation && i.source)
        .map((i) => `${i.object.split("/")[0]} ${i.source}`),
    ),
  ].sort();
  return {
    response: {
      ...namespaceMetadata({
        desired: attachments,
        observed: req.attachments,
        issues,
        hosts: desired.flatMap((d) => routesOf(d.kind.module, d.mirror).map((r) => r.host)),
        labels: req.namespace.metadata.labels,
      }),
      attachments,
      resyncAfterSeconds: 0,
    },
    status,
    counts: {
      mirrors,
      conflicts: issues.filter((i) => i.reason === Reason.Conflict).length,
      invalidSources: invalidSourceIds.length,
      invalidSourceIds,
    },
  };
}

/** Mirrors that route the same host and path: both are kept, and reported. */
function hostCollisions(desired: readonly { kind: DeclaredKind; mirror: KubeObject }[]): Issue[] {
  const byRoute = new Map<string, { id: string; object: string; source: string | undefined }[]>();
  for (const { kind, mirror } of desired) {
    const routes = routesOf(kind.module, mirror);
    const owner = {
      id: objectKey(mirror),
      object: `${mirror.kind}/${mirror.metadata.name}`,
      source: replicatedFrom(mirror),
    };
    for (const r of routes) {
      const key = `${r.host}${r.path}`;
      const owners = byRoute.get(key) ?? [];
      if (!owners.some((o) => o.id === owner.id)) owners.push(owner);
      byRoute.set(key, owners);
    }
  }
  const issues: Issue[] = [];
  for (const [route, owners] of byRoute) {
    if (owners.length < 2) continue;
    for (const { id, object, source } of owners) {
      const others = owners
        .filter((o) => o.id !== id)
        .map((o) => o.object)
        .join(", ");
      const message = `${route} is also served by ${others}; set host-template on a source to tell them apart`;
      issues.push(
        source === undefined
          ? { reason: Reason.HostCollision, object, message }
          : { reason: Reason.HostCollision, object, source, message },
      );
    }
  }
  return issues;
}

/**
 * The objects Metacontroller must send with every sync of this namespace: each declared kind in
 * each source namespace, and in the namespace itself (to see what is not ours). It depends only on
 * the namespace's name and the config, because Metacontroller caches it per namespace.
 */
export function computeCustomize(req: CustomizeRequest, config: Config): CustomizeResponse {
  const kinds = declaredKinds(req.attachmentRules);
  const targetNamespace = req.namespace.metadata.name;
  if (!isEligibleNamespace(targetNamespace, config)) return { relatedResources: [] };
  const relatedResources: RelatedResourceRule[] = [];
  const labelSelector = config.sourceSelector ? toLabelSelector(config.sourceSelector) : undefined;
  for (const { module, apiVersion } of kinds) {
    if (module.role === "companion") {
      // Companions in source namespaces, by name: unmanaged objects of those names must be seen
      // (whatever their labels), and changes to other namespaces' companions must not matter here.
      const names = module.companionNames(targetNamespace);
      for (const namespace of config.sourceNamespaces) {
        relatedResources.push({ apiVersion, resource: module.resource, namespace, names });
      }
      continue;
    }
    for (const namespace of config.sourceNamespaces) {
      relatedResources.push(
        labelSelector
          ? { apiVersion, resource: module.resource, namespace, labelSelector }
          : { apiVersion, resource: module.resource, namespace },
      );
    }
    relatedResources.push({ apiVersion, resource: module.resource, namespace: targetNamespace });
  }
  return { relatedResources };
}
