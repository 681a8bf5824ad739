import type { SourceSpec } from "../annotations.ts";
import type { Config } from "../config.ts";
import type { Reason } from "../constants.ts";
import type { HostContext } from "../hosts.ts";
import { mirrorMetadata } from "../metadata.ts";
import type { KubeObject, ObjectMeta } from "../types.ts";

// The one interface every mirrored kind implements. The engine does targeting, skips, conflicts,
// fail-static and status; a kind module only knows how to shape its own mirror.

export interface MirrorContext {
  /** The target namespace. */
  namespace: string;
  /** The apiVersion the DecoratorController declares for this kind: mirrors must use it. */
  apiVersion: string;
  spec: SourceSpec;
  config: Config;
  /** The apiVersion the controller declares for a kind, or undefined when it does not declare it. */
  declared(group: string, kind: string): string | undefined;
}

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
   * Objects of auxiliary kinds the mirror needs beside it, possibly in another namespace (a
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

export interface MirrorKind {
  readonly kind: string;
  /** API group; "" for the core group. */
  readonly group: string;
  /** Plural resource name, as DecoratorController attachments declare it. */
  readonly resource: string;
  /** API versions this module can produce. */
  readonly versions: readonly string[];
  /** Auxiliary kinds are never sources: they exist only as companions of other kinds' mirrors. */
  readonly auxiliary?: boolean;
  /**
   * For auxiliary kinds: the names its companions for target namespace `target` take in the source
   * namespaces, so the customize hook asks for exactly those (and sees unmanaged ones).
   */
  companionNames?(target: string): string[];
  /** For auxiliary kinds: one companion from two that several mirrors asked for under one name. */
  mergeCompanions?(a: KubeObject, b: KubeObject): KubeObject;
  /** The mirror of `source` in `ctx.namespace`. */
  mirror(source: KubeObject, ctx: MirrorContext): MirrorResult;
  /** An observed mirror reduced to the fields the hook owns, to keep it unchanged (fail-static). */
  rebuild(observed: KubeObject, ctx: Pick<MirrorContext, "namespace" | "apiVersion">): KubeObject;
  /** The hosts and paths a mirror serves, for kinds that route traffic. */
  routes?(mirror: KubeObject): Route[];
}

/** Where a source's hosts are mapped to: its annotations first, then the configuration. */
export function hostContextOf(source: KubeObject, ctx: MirrorContext): HostContext {
  return {
    namespace: ctx.namespace,
    sourceNamespace: source.metadata.namespace ?? "",
    ingress: source.metadata.name,
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
