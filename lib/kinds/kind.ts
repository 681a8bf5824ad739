import type { SourceSpec } from "../annotations.ts";
import type { BranchFacts } from "../branch.ts";
import type { Config } from "../config.ts";
import type { Reason } from "../constants.ts";
import type { HostContext } from "../hosts.ts";
import { mirrorMetadata } from "../metadata.ts";
import type { KubeObject, ObjectMeta } from "../types.ts";

// The interfaces kind modules implement. The engine does targeting, skips, conflicts, fail-static
// and status; a kind module only knows how to shape its own objects. A kind plays one of two roles
// (docs/design.md, Vocabulary): a source kind is mirrored from annotated sources; a companion kind
// is never a source, its objects exist only beside other kinds' mirrors.

export interface MirrorContext {
  /** The target namespace. */
  namespace: string;
  /** The apiVersion the DecoratorController declares for this kind: mirrors must use it. */
  apiVersion: string;
  spec: SourceSpec;
  config: Config;
  /** The apiVersion the controller declares for a kind, or undefined when it does not declare it. */
  declared(group: string, kind: string): string | undefined;
  /** What the target namespace runs itself and which TLS Secrets are mirrored into it. */
  branch: BranchFacts;
}

/** Where an observed object is kept, and at which apiVersion. */
export type RebuildContext = Pick<MirrorContext, "namespace" | "apiVersion">;

/** A remark about one mirror, completed by the engine with object and source names. */
export interface Remark {
  reason: Reason;
  message: string;
}

export interface MirrorResult {
  /** The desired mirror, or undefined when nothing valid is left to mirror. */
  mirror: KubeObject | undefined;
  remarks: Remark[];
  /**
   * Objects of companion kinds the mirror needs beside it, possibly in another namespace (a
   * Gateway API ReferenceGrant in the source namespace). The engine deduplicates them and checks
   * them for conflicts like mirrors.
   */
  companions?: KubeObject[];
}

/** A host and path a mirror routes, for detecting collisions between mirrors. */
export interface Route {
  host: string;
  path: string;
}

/** What every kind module declares, whatever its role. */
interface KindIdentity {
  readonly kind: string;
  /** API group; "" for the core group. */
  readonly group: string;
  /** Plural resource name, as DecoratorController attachments declare it. */
  readonly resource: string;
  /** API versions this module can produce. */
  readonly versions: readonly string[];
  /** An observed object reduced to the fields the hook owns, to keep it unchanged (fail-static). */
  rebuild(observed: KubeObject, ctx: RebuildContext): KubeObject;
}

/** A kind whose annotated objects in source namespaces are mirrored into target namespaces. */
export interface SourceKind extends KindIdentity {
  readonly role: "source";
  /**
   * Its mirrors are facts other kinds' mirrors read (MirrorContext.branch: a route mirror's TLS
   * Secret), so its sources are decided before those of the kinds without it.
   */
  readonly decidedFirst?: boolean;
  /** The mirror of `source` in `ctx.namespace`. */
  mirror(source: KubeObject, ctx: MirrorContext): MirrorResult;
  /** The hosts and paths a mirror serves, for kinds that route traffic. */
  routes?(mirror: KubeObject): Route[];
}

/** A kind that is never a source: its objects exist only as companions of other kinds' mirrors. */
export interface CompanionKind extends KindIdentity {
  readonly role: "companion";
  /**
   * The names its companions for target namespace `target` take in the source namespaces, so the
   * customize hook asks for exactly those (and sees unmanaged ones).
   */
  companionNames(target: string): string[];
  /** One companion from two that several mirrors asked for under one name. */
  mergeCompanions(first: KubeObject, second: KubeObject): KubeObject;
}

/** Any kind module; `role` tells which. */
export type KindModule = SourceKind | CompanionKind;

/**
 * Routes already computed, per object: the engine asks for a mirror's routes three times (served
 * hosts, collisions, the hosts annotation), and a Traefik route's come from parsing its rules.
 * Keyed weakly by the object, which request parsing and the kinds never change after creating it.
 */
const routesByObject = new WeakMap<KubeObject, readonly Route[]>();

/** What kinds that do not route traffic serve: one array for all, never written. */
const NO_ROUTES: readonly Route[] = [];

/** The hosts and paths `object` serves, or none for kinds that do not route traffic. */
export function routesOf(module: KindModule, object: KubeObject): readonly Route[] {
  if (module.role !== "source" || module.routes === undefined) return NO_ROUTES;
  let routes = routesByObject.get(object);
  if (routes === undefined) {
    routes = module.routes(object);
    routesByObject.set(object, routes);
  }
  return routes;
}

/** Where a source's hosts are mapped to: its annotations first, then the configuration. */
export function hostContextOf(source: KubeObject, ctx: MirrorContext): HostContext {
  return {
    namespace: ctx.namespace,
    sourceNamespace: source.metadata.namespace ?? "",
    sourceName: source.metadata.name,
    topLevelDomain: ctx.spec.topLevelDomain ?? ctx.config.defaultTopLevelDomain,
    template: ctx.spec.hostTemplate,
  };
}

/** The mirror's metadata, with the source's strip lists applied. */
export function metadataOf(source: KubeObject, ctx: MirrorContext): ObjectMeta {
  return mirrorMetadata(source, ctx.namespace, {
    labels: ctx.spec.stripLabels,
    annotations: ctx.spec.stripAnnotations,
  });
}
