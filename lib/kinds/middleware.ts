import { observedMirrorMetadata } from "../metadata.ts";
import type { KubeObject } from "../types.ts";
import { metadataOf, type SourceKind } from "./kind.ts";

// Traefik Middleware and MiddlewareTCP mirrors (traefik.io/v1alpha1 and traefik.containo.us/
// v1alpha1), for config traefikMiddlewares: local, where IngressRoute mirrors keep their middleware
// references as they are and so resolve to copies in the target namespace. An annotated Middleware
// in a source namespace is mirrored as it is: spec copied unchanged, metadata as for every mirror.
//
// What a copied Middleware cannot carry: everything it references by name resolves in the target
// namespace, and nothing of that is copied with it:
// - Secrets: basicAuth.secret, digestAuth.secret, forwardAuth.tls.caSecret / certSecret (v2) or
//   forwardAuth.tls.certSecret (v3), and plugin settings read from Secrets (urn:k8s:secret:...)
//   must exist in the target, like the TLS secrets of Ingress mirrors (the hook cannot see Secrets);
// - chain.middlewares entries without a namespace name Middlewares of the target: annotate those
//   too, so they are mirrored alongside;
// - errors.service names a Service of the target, usually its ExternalName mirror (Traefik needs
//   allowExternalNameServices).
// Anything that must not differ per branch is better left in the source namespace and referenced
// across namespaces (traefikMiddlewares: crossNamespace, the default).

function middleware(
  apiVersion: string,
  kind: string,
  metadata: KubeObject["metadata"],
  spec: unknown,
) {
  const out: KubeObject = { apiVersion, kind, metadata };
  if (spec !== undefined) out.spec = spec;
  return out;
}

function middlewareKind(
  kind: "Middleware" | "MiddlewareTCP",
  group: "traefik.io" | "traefik.containo.us",
): SourceKind {
  return {
    role: "source",
    kind,
    group,
    resource: kind === "Middleware" ? "middlewares" : "middlewaretcps",
    versions: ["v1alpha1"],

    mirror(source, ctx) {
      const metadata = metadataOf(source, ctx);
      return { mirror: middleware(ctx.apiVersion, kind, metadata, source.spec), remarks: [] };
    },

    rebuild(observed, ctx) {
      return middleware(
        ctx.apiVersion,
        kind,
        observedMirrorMetadata(observed, ctx.namespace),
        observed.spec,
      );
    },
  };
}

/** Middleware of Traefik v3 (traefik.io/v1alpha1). */
export const middlewareV3Kind = middlewareKind("Middleware", "traefik.io");
/** Middleware of Traefik v2 (traefik.containo.us/v1alpha1). */
export const middlewareV2Kind = middlewareKind("Middleware", "traefik.containo.us");
/** MiddlewareTCP of Traefik v3, for IngressRouteTCP mirrors. */
export const middlewareTCPV3Kind = middlewareKind("MiddlewareTCP", "traefik.io");
/** MiddlewareTCP of Traefik v2. */
export const middlewareTCPV2Kind = middlewareKind("MiddlewareTCP", "traefik.containo.us");

/** Every Traefik middleware kind, both API groups. */
export const TRAEFIK_MIDDLEWARE_KINDS: readonly SourceKind[] = [
  middlewareV3Kind,
  middlewareV2Kind,
  middlewareTCPV3Kind,
  middlewareTCPV2Kind,
];
