import { Reason } from "../constants.ts";
import { clip } from "../dns.ts";
import { type HostContext, mapHost } from "../hosts.ts";
import { listMergeCollisions, listMergeKey } from "../list-merge.ts";
import { observedMirrorMetadata } from "../metadata.ts";
import type { KubeObject } from "../types.ts";
import { type BackendPlacement, backendPlacement, withLocalBackends } from "./backends.ts";
import {
  hostContextOf,
  type MirrorContext,
  metadataOf,
  type Remark,
  type Route,
  type SourceKind,
} from "./kind.ts";
import { GATEWAY_GROUP, serviceReferenceGrant } from "./referencegrant.ts";
import { asArray, isRecord, noneLeftAfterHostMapping, specOf } from "./shapes.ts";

// Gateway API HTTPRoute mirrors: the source's route with its hostnames moved into the feature
// namespace's domain (as Ingress hosts: docs/design.md, Host mapping), attached to the source
// namespace's Gateways. Each Service backendRef is placed on its own (lib/kinds/backends.ts): to the
// branch's own Service when the branch runs one, else to the baseline: with config gatewayBackends
// "source" at the source namespace's Service, allowed by a ReferenceGrant there; with "local" left
// as it is, resolving to the ExternalName mirror.

interface ObjectRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  [field: string]: unknown;
}
type Filter = Record<string, unknown>;
interface BackendRef extends ObjectRef {
  filters?: Filter[];
}
interface Match {
  path?: { type?: string; value?: string };
  [field: string]: unknown;
}
interface Rule {
  matches?: Match[];
  filters?: Filter[];
  backendRefs?: BackendRef[];
  [field: string]: unknown;
}
interface HTTPRouteSpec {
  parentRefs?: ObjectRef[];
  hostnames?: string[];
  rules?: Rule[];
  [field: string]: unknown;
}

/** A reference to a core Service (the defaults of BackendObjectReference). */
const isServiceRef = (ref: ObjectRef): boolean =>
  (ref.group ?? "") === "" && (ref.kind ?? "Service") === "Service";

/**
 * Places every Service reference of a rule (docs/design.md, Backends follow the branch): the
 * rule's backendRefs and the backendRef of any filter that carries one (RequestMirror, and
 * experimental ones shaped alike), on the rule and on each backendRef.
 */
function placeBackends(rule: Rule, placement: BackendPlacement): Rule {
  const ref = <T extends ObjectRef>(r: T): T =>
    isRecord(r) && isServiceRef(r) ? placement.place(r) : r;
  const filters = (list: Filter[] | undefined): Filter[] | undefined =>
    Array.isArray(list)
      ? list.map((filter) => {
          if (!isRecord(filter)) return filter;
          const out: Filter = { ...filter };
          for (const [key, value] of Object.entries(filter)) {
            if (isRecord(value) && isRecord(value.backendRef)) {
              out[key] = { ...value, backendRef: ref(value.backendRef as ObjectRef) };
            }
          }
          return out;
        })
      : list;
  const out: Rule = { ...rule };
  if (Array.isArray(rule.filters)) out.filters = filters(rule.filters);
  if (Array.isArray(rule.backendRefs)) {
    out.backendRefs = rule.backendRefs.map((b) => {
      if (!isRecord(b)) return b;
      const placed = ref(b);
      return Array.isArray(b.filters) ? { ...placed, filters: filters(b.filters) } : placed;
    });
  }
  return out;
}

/** Names of the core Services in `namespace` that the rules reference, sorted. */
function serviceRefsInto(rules: Rule[], namespace: string): string[] {
  const names = new Set<string>();
  const visit = (r: unknown) => {
    if (!isRecord(r)) return;
    const ref = r as ObjectRef;
    const service = (ref.group ?? "") === "" && (ref.kind ?? "Service") === "Service";
    if (service && ref.namespace === namespace && typeof ref.name === "string") names.add(ref.name);
  };
  const visitFilters = (filters: unknown) => {
    for (const f of asArray(filters)) {
      if (!isRecord(f)) continue;
      for (const value of Object.values(f)) if (isRecord(value)) visit(value.backendRef);
    }
  };
  for (const rule of rules) {
    if (!isRecord(rule)) continue;
    visitFilters(rule.filters);
    for (const b of asArray(rule.backendRefs)) {
      visit(b);
      if (isRecord(b)) visitFilters(b.filters);
    }
  }
  return [...names].sort();
}

function httpRoute(
  apiVersion: string,
  metadata: KubeObject["metadata"],
  spec: HTTPRouteSpec,
): KubeObject {
  return { apiVersion, kind: "HTTPRoute", metadata, spec };
}

/**
 * Metacontroller's apply merges lists of objects by `name`, so two parentRefs to one Gateway
 * (different `sectionName` or `port`) would collapse and fail every update. Such references are
 * merged into one reference to the whole Gateway, and reported.
 */
function mergeParentRefs(refs: ObjectRef[], remarks: Remark[]): ObjectRef[] {
  const out: ObjectRef[] = [];
  const target = (r: ObjectRef) => JSON.stringify([r.group, r.kind, r.namespace, r.name]);
  for (const ref of refs) {
    const same = out.findIndex((o) => isRecord(o) && isRecord(ref) && target(o) === target(ref));
    if (same < 0) {
      out.push(ref);
      continue;
    }
    const { sectionName: _s, port: _p, ...whole } = out[same] as ObjectRef;
    out[same] = whole;
    remarks.push({
      reason: Reason.NotCopied,
      message: `spec.parentRefs: several references to Gateway ${ref.name} are merged into one without sectionName or port, as Metacontroller merges parentRefs by name`,
    });
  }
  return out;
}

/**
 * Metacontroller merges a list of rules that all have a name rule by rule, and inside each rule
 * its lists by their own keys: backendRefs by port (a weighted split on one port would become one
 * backend), matches by path. When that would merge anything, the rules' names are left out, so
 * Metacontroller replaces the rules whole.
 */
function unnamedWhenMerged(rules: Rule[], remarks: Remark[]): Rule[] {
  if (listMergeKey(rules) !== "name") return rules;
  const inside = listMergeCollisions(rules, "spec.rules").find((c) => c.list !== "spec.rules");
  if (inside === undefined) return rules;
  remarks.push({
    reason: Reason.NotCopied,
    message: `spec.rules[*].name is not copied: Metacontroller merges named rules one by one, and would merge ${inside.list}[${inside.repeat}] into [${inside.first}] (same ${inside.key}); without names the rules are replaced whole`,
  });
  return rules.map(({ name: _name, ...rule }) => rule);
}

/**
 * The route's hostnames mapped, repeats once; undefined when nothing is left (remarks say why). A
 * route without hostnames matches every host of its listeners: like an Ingress catch-all rule it
 * lands on the feature domain, or is left out when there is none.
 */
function mappedHostnames(
  sourceHosts: readonly unknown[],
  hostCtx: HostContext,
  remarks: Remark[],
): string[] | undefined {
  if (sourceHosts.length === 0) {
    const m = mapHost("", hostCtx);
    if (m.ok) return [m.host];
    remarks.push({
      reason: Reason.InvalidHost,
      message:
        "a route without hostnames matches every host: not mirrored without a top-level domain or host-template, it would compete with the source's",
    });
    return undefined;
  }
  const hostnames: string[] = [];
  for (const host of sourceHosts) {
    const m = mapHost(typeof host === "string" ? host : "", hostCtx);
    if (!m.ok) {
      remarks.push({
        reason: Reason.InvalidHost,
        message: `hostname "${clip(String(host), 100)}" left out: ${m.reason}`,
      });
    } else if (!hostnames.includes(m.host)) {
      hostnames.push(m.host);
    }
  }
  // An empty list would match every host: never turn a route into a catch-all.
  if (hostnames.length === 0) {
    noneLeftAfterHostMapping("hostname", remarks);
    return undefined;
  }
  return hostnames;
}

/**
 * The rules with each Service backend placed (to the branch's own Service when it runs one, else to
 * the baseline), the Services left local, and the ReferenceGrant companion that every Service the
 * mirror still reaches in the source namespace needs (it names exactly those; none, no grant).
 */
function backendsOf(
  rules: Rule[],
  sourceNamespace: string,
  ctx: MirrorContext,
  remarks: Remark[],
): { rules: Rule[]; local: ReadonlySet<string>; companions: KubeObject[] | undefined } {
  const grantVersion = ctx.declared(GATEWAY_GROUP, "ReferenceGrant");
  const toSource = ctx.config.gatewayBackends === "source";
  if (toSource && grantVersion === undefined) {
    remarks.push({
      reason: Reason.KindNotDeclared,
      message:
        'config gatewayBackends "source" has no effect: the controller does not declare ReferenceGrant (add the gateway-api component\'s referencegrants attachment); backends kept local',
    });
  }
  const placement = backendPlacement(
    sourceNamespace,
    toSource && grantVersion !== undefined,
    ctx.branch,
  );
  const out = rules.map((r) => (isRecord(r) ? placeBackends(r, placement) : r));
  const reached = serviceRefsInto(out, sourceNamespace);
  if (reached.length > 0 && grantVersion !== undefined) {
    const grant = serviceReferenceGrant(
      grantVersion,
      sourceNamespace,
      ctx.namespace,
      "HTTPRoute",
      reached,
    );
    return { rules: out, local: placement.local, companions: [grant] };
  }
  if (reached.length > 0 && !toSource) {
    remarks.push({
      reason: Reason.KindNotDeclared,
      message: `backendRefs to ${reached.join(", ")} in ${sourceNamespace} need a ReferenceGrant there, and the controller does not declare ReferenceGrant`,
    });
  }
  return { rules: out, local: placement.local, companions: undefined };
}

export const httpRouteKind: SourceKind = {
  role: "source",
  kind: "HTTPRoute",
  group: GATEWAY_GROUP,
  resource: "httproutes",
  versions: ["v1"],

  mirror(source, ctx) {
    const spec = specOf<HTTPRouteSpec>(source);
    const remarks: Remark[] = [];
    const sourceNamespace = source.metadata.namespace ?? "";
    const hostCtx = hostContextOf(source, ctx);

    const hostnames = mappedHostnames(asArray(spec.hostnames), hostCtx, remarks);
    if (hostnames === undefined) return { mirror: undefined, remarks };
    // Parent references without a namespace meant the source namespace's Gateways.
    const out: HTTPRouteSpec = { ...spec, hostnames };
    if (Array.isArray(spec.parentRefs)) {
      out.parentRefs = mergeParentRefs(
        spec.parentRefs.map((p) =>
          isRecord(p) && p.namespace === undefined ? { ...p, namespace: sourceNamespace } : p,
        ),
        remarks,
      );
    }

    let companions: KubeObject[] | undefined;
    let local: ReadonlySet<string> = new Set();
    if (Array.isArray(spec.rules)) {
      const backends = backendsOf(spec.rules, sourceNamespace, ctx, remarks);
      out.rules = unnamedWhenMerged(backends.rules, remarks);
      local = backends.local;
      companions = backends.companions;
    }

    const metadata = withLocalBackends(metadataOf(source, ctx), local);
    const mirror = httpRoute(ctx.apiVersion, metadata, out);
    return companions === undefined ? { mirror, remarks } : { mirror, remarks, companions };
  },

  rebuild(observed, ctx) {
    return httpRoute(
      ctx.apiVersion,
      observedMirrorMetadata(observed, ctx.namespace),
      specOf<HTTPRouteSpec>(observed),
    );
  },

  routes(mirror) {
    const spec = specOf<HTTPRouteSpec>(mirror);
    const hosts = asArray(spec.hostnames);
    const paths: string[] = [];
    for (const rule of asArray(spec.rules)) {
      const matches = isRecord(rule) ? asArray(rule.matches) : [];
      if (matches.length === 0) paths.push("/");
      for (const m of matches) {
        const value = isRecord(m) ? m.path?.value : undefined;
        paths.push(typeof value === "string" ? value : "/");
      }
    }
    const routes: Route[] = [];
    for (const host of hosts.length > 0 ? hosts : [""]) {
      for (const path of new Set(paths)) routes.push({ host, path });
    }
    return routes;
  },
};
