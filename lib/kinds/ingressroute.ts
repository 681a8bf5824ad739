import { Annotation, Reason } from "../constants.ts";
import { annotationField, fieldError, formatFieldError } from "../errors.ts";
import { type HostContext, mapHost } from "../hosts.ts";
import { observedMirrorMetadata } from "../metadata.ts";
import {
  HTTP_RULES,
  type RuleDialect,
  rewriteRuleHosts,
  ruleHosts,
  TCP_RULES,
} from "../traefik-rule.ts";
import { backendPlacement, withLocalBackends } from "./backends.ts";
import {
  hostContextOf,
  type MirrorContext,
  metadataOf,
  type Remark,
  type Route,
  type SourceKind,
} from "./kind.ts";
import {
  asArray,
  isRecord,
  type JsonObject,
  noneLeftAfterHostMapping,
  specOf,
  uniqueByJson,
} from "./shapes.ts";

// Traefik IngressRoute and IngressRouteTCP mirrors, for Traefik v3 (traefik.io/v1alpha1) and v2
// (traefik.containo.us/v1alpha1): one module per kind and group, made by one factory.
//
// - spec.routes[].match: the hosts of Host/HostHeader (HostSNI for TCP) are moved into the feature
//   namespace's domain like Ingress hosts (docs/design.md, Host mapping), by lib/traefik-rule.ts; everything
//   else in the rule stays byte for byte. A route whose rule cannot be mapped (syntax error,
//   HostRegexp, no host constraint, HostSNI(`*`)) is left out and reported; no route left, no mirror.
// - Middlewares: config traefikMiddlewares "crossNamespace" (default) points references without a
//   namespace at the source's namespace (Traefik needs providers.kubernetesCRD.allowCrossNamespace);
//   "local" leaves them as they are, to resolve to Middleware mirrors in the target. References to
//   another provider (`name@file`) are never touched: Traefik ignores their namespace.
// - Services are placed one by one (lib/kinds/backends.ts): a Service the branch runs itself stays
//   local; the others go to the baseline: with config traefikBackends "local" (default) left as
//   they are, resolving to the ExternalName mirror (Traefik needs allowExternalNameServices), with
//   "source" pointed at the source's namespace (Traefik needs allowCrossNamespace).
//   A `kind: TraefikService` reference has no mirror kind: in crossNamespace mode it points at the
//   source's namespace like a middleware, in local mode it is left as it is.
// - spec.tls: domains mapped like hosts; secretName from tld-secret-name when set, else the source's
//   (reported unless the tls-secrets component mirrors it); certResolver, options, store and
//   passthrough copied.
//   TLS is never added to a route without it: a TLS router accepts only TLS connections.
// - Every other field (entryPoints, priority, kind, syntax, ...) is copied unchanged.

interface RouteKindOptions {
  kind: "IngressRoute" | "IngressRouteTCP";
  group: "traefik.io" | "traefik.containo.us";
  resource: string;
  dialect: RuleDialect;
}

/** A middleware or TraefikService reference pointed at `namespace` when it names none. */
function qualified(ref: unknown, namespace: string): unknown {
  if (!isRecord(ref) || typeof ref.name !== "string" || ref.name.includes("@")) return ref;
  if (typeof ref.namespace === "string" && ref.namespace !== "") return ref;
  return { ...ref, namespace };
}

function mapTLS(
  tls: JsonObject,
  hostCtx: HostContext,
  ctx: MirrorContext,
  remarks: Remark[],
): JsonObject {
  const out: JsonObject = { ...tls };
  if (Array.isArray(tls.domains)) {
    const domains: JsonObject[] = [];
    for (const [j, domain] of tls.domains.entries()) {
      if (!isRecord(domain)) continue;
      const names: { field: string; host: unknown }[] = [
        { field: `spec.tls.domains[${j}].main`, host: domain.main },
        ...asArray(domain.sans).map((host, k) => ({
          field: `spec.tls.domains[${j}].sans[${k}]`,
          host,
        })),
      ];
      const mapped: string[] = [];
      for (const { field, host } of names) {
        if (host === undefined) continue;
        const m =
          typeof host === "string" && host !== ""
            ? mapHost(host.toLowerCase(), hostCtx)
            : { ok: false as const, reason: "must be a host name" };
        if (m.ok) {
          if (!mapped.includes(m.host)) mapped.push(m.host);
        } else {
          remarks.push({
            reason: Reason.InvalidHost,
            message: formatFieldError(fieldError(field, String(host), `left out: ${m.reason}`)),
          });
        }
      }
      // A domain whose main was left out is led by its first valid SAN; one with none is dropped.
      const [main, ...sans] = mapped;
      if (main === undefined) continue;
      const entry: JsonObject = { ...domain, main };
      if (sans.length > 0) entry.sans = sans;
      else delete entry.sans;
      domains.push(entry);
    }
    // Without domains Traefik takes the certificate's names from the (mapped) rules.
    if (domains.length > 0) out.domains = uniqueByJson(domains);
    else delete out.domains;
  }
  if (tls.passthrough !== true) {
    const secret = ctx.spec.tldSecretName;
    if (secret !== undefined) {
      out.secretName = secret;
    } else if (
      typeof tls.secretName === "string" &&
      tls.secretName !== "" &&
      !ctx.branch.mirroredTLSSecrets.has(tls.secretName)
    ) {
      remarks.push({
        reason: Reason.TLSSecretRequired,
        message: `TLS secret "${tls.secretName}" must exist in namespace ${ctx.namespace}: it is not mirrored (annotate it for the tls-secrets component, or set tld-secret-name)`,
      });
    }
  }
  return out;
}

function routeKind(opts: RouteKindOptions): SourceKind {
  const { kind, group, resource, dialect } = opts;
  return {
    role: "source",
    kind,
    group,
    resource,
    versions: ["v1alpha1"],

    mirror(source, ctx) {
      const spec = specOf(source);
      const remarks: Remark[] = [];
      const sourceNamespace = source.metadata.namespace ?? "";
      const hostCtx = hostContextOf(source, ctx);
      const crossNamespace = ctx.config.traefikMiddlewares === "crossNamespace";
      // Each Service goes to the branch's own when it runs one, else to the baseline: with
      // traefikBackends "source" across namespaces, with "local" through the ExternalName mirror.
      const placement = backendPlacement(
        sourceNamespace,
        ctx.config.traefikBackends === "source",
        ctx.branch,
      );

      const routes: JsonObject[] = [];
      for (const [i, route] of asArray(spec.routes).entries()) {
        if (!isRecord(route)) continue;
        const field = `spec.routes[${i}].match`;
        const match = route.match;
        const r =
          typeof match === "string"
            ? rewriteRuleHosts(match, (host) => mapHost(host, hostCtx), dialect)
            : { ok: false as const, reason: "must be a rule such as Host(`example.com`)" };
        if (!r.ok) {
          remarks.push({
            reason: Reason.InvalidHost,
            message: formatFieldError(
              fieldError(field, String(match ?? ""), `route left out: ${r.reason}`),
            ),
          });
          continue;
        }
        const out: JsonObject = { ...route, match: r.rule };
        if (crossNamespace && Array.isArray(route.middlewares)) {
          out.middlewares = route.middlewares.map((m) => qualified(m, sourceNamespace));
        }
        if (Array.isArray(route.services)) {
          out.services = route.services.map((s) => {
            if (!isRecord(s)) return s;
            // A TraefikService has no mirror kind: it follows the middlewares' mode.
            if (s.kind === "TraefikService")
              return crossNamespace ? qualified(s, sourceNamespace) : s;
            return placement.place(s);
          });
        }
        routes.push(out);
      }
      if (routes.length === 0) return noneLeftAfterHostMapping("route", remarks);

      const out: JsonObject = { ...spec, routes };
      if (isRecord(spec.tls)) {
        out.tls = mapTLS(spec.tls, hostCtx, ctx, remarks);
      } else {
        delete out.tls;
        if (ctx.spec.tldSecretName !== undefined) {
          remarks.push({
            reason: Reason.IgnoredAnnotation,
            message: formatFieldError(
              fieldError(
                annotationField(Annotation.tldSecretName),
                ctx.spec.tldSecretName,
                `ignored: the ${kind} has no spec.tls, and adding it would make the routes accept only TLS connections`,
              ),
            ),
          });
        }
      }

      const metadata = withLocalBackends(metadataOf(source, ctx), placement.local);
      return { mirror: { apiVersion: ctx.apiVersion, kind, metadata, spec: out }, remarks };
    },

    rebuild(observed, ctx) {
      return {
        apiVersion: ctx.apiVersion,
        kind,
        metadata: observedMirrorMetadata(observed, ctx.namespace),
        spec: specOf(observed),
      };
    },

    routes(mirror) {
      const routes: Route[] = [];
      const seen = new Set<string>();
      const spec = specOf(mirror);
      for (const route of asArray(spec.routes)) {
        if (!isRecord(route) || typeof route.match !== "string") continue;
        for (const host of ruleHosts(route.match, dialect)) {
          if (seen.has(host)) continue;
          seen.add(host);
          routes.push({ host, path: "" });
        }
      }
      return routes;
    },
  };
}

/** IngressRoute of Traefik v3 (traefik.io/v1alpha1). */
export const ingressRouteKind = routeKind({
  kind: "IngressRoute",
  group: "traefik.io",
  resource: "ingressroutes",
  dialect: HTTP_RULES,
});
/** IngressRoute of Traefik v2 (traefik.containo.us/v1alpha1). */
export const ingressRouteV2Kind = routeKind({
  kind: "IngressRoute",
  group: "traefik.containo.us",
  resource: "ingressroutes",
  dialect: HTTP_RULES,
});
/** IngressRouteTCP of Traefik v3: HostSNI hosts mapped; HostSNI(`*`) routes left out. */
export const ingressRouteTCPKind = routeKind({
  kind: "IngressRouteTCP",
  group: "traefik.io",
  resource: "ingressroutetcps",
  dialect: TCP_RULES,
});
/** IngressRouteTCP of Traefik v2. */
export const ingressRouteTCPV2Kind = routeKind({
  kind: "IngressRouteTCP",
  group: "traefik.containo.us",
  resource: "ingressroutetcps",
  dialect: TCP_RULES,
});

/** Every Traefik route kind, both API groups. */
export const TRAEFIK_ROUTE_KINDS: readonly SourceKind[] = [
  ingressRouteKind,
  ingressRouteV2Kind,
  ingressRouteTCPKind,
  ingressRouteTCPV2Kind,
];
