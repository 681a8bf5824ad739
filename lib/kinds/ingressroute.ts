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
import { type BackendPlacement, backendPlacement, withLocalBackends } from "./backends.ts";
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

/** A host of spec.tls.domains mapped, or why it is not; repeats are left to the caller. */
function mapDomainName(
  field: string,
  host: unknown,
  hostCtx: HostContext,
  remarks: Remark[],
): string | undefined {
  const m =
    typeof host === "string" && host !== ""
      ? mapHost(host.toLowerCase(), hostCtx)
      : { ok: false as const, reason: "must be a host name" };
  if (m.ok) return m.host;
  remarks.push({
    reason: Reason.InvalidHost,
    message: formatFieldError(fieldError(field, String(host), `left out: ${m.reason}`)),
  });
  return undefined;
}

/** One entry of spec.tls.domains mapped; undefined when none of its names is left. */
function mapDomain(
  domain: JsonObject,
  j: number,
  hostCtx: HostContext,
  remarks: Remark[],
): JsonObject | undefined {
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
    const name = mapDomainName(field, host, hostCtx, remarks);
    if (name !== undefined && !mapped.includes(name)) mapped.push(name);
  }
  // A domain whose main was left out is led by its first valid SAN; one with none is dropped.
  const [main, ...sans] = mapped;
  if (main === undefined) return undefined;
  const entry: JsonObject = { ...domain, main };
  if (sans.length > 0) entry.sans = sans;
  else delete entry.sans;
  return entry;
}

function mapTLS(
  tls: JsonObject,
  hostCtx: HostContext,
  ctx: MirrorContext,
  remarks: Remark[],
): JsonObject {
  const out: JsonObject = { ...tls };
  if (Array.isArray(tls.domains)) {
    const domains = tls.domains.flatMap((domain, j) => {
      const entry = isRecord(domain) ? mapDomain(domain, j, hostCtx, remarks) : undefined;
      return entry === undefined ? [] : [entry];
    });
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
      !ctx.branch.hasSecret(tls.secretName)
    ) {
      remarks.push({
        reason: Reason.TLSSecretRequired,
        message: `TLS secret "${tls.secretName}" must exist in namespace ${ctx.namespace}: it is not mirrored (annotate it for the tls-secrets component, or set tld-secret-name)`,
      });
    }
  }
  return out;
}

/** What a route needs to be mirrored: where its hosts go, and where its references point. */
interface RouteMapping {
  hostCtx: HostContext;
  dialect: RuleDialect;
  sourceNamespace: string;
  /** Middlewares and TraefikServices without a namespace point back at the source's. */
  crossNamespace: boolean;
  /** Where each Service goes: the branch's own when it runs one, else the baseline. */
  placement: BackendPlacement;
}

/** One entry of a route's services placed. */
function placeService(service: unknown, mapping: RouteMapping): unknown {
  if (!isRecord(service)) return service;
  // A TraefikService has no mirror kind: it follows the middlewares' mode.
  if (service.kind === "TraefikService") {
    return mapping.crossNamespace ? qualified(service, mapping.sourceNamespace) : service;
  }
  return mapping.placement.place(service);
}

/** One route of spec.routes with its rule's hosts mapped; undefined when it is left out. */
function mapRoute(
  route: JsonObject,
  i: number,
  mapping: RouteMapping,
  remarks: Remark[],
): JsonObject | undefined {
  const match = route.match;
  const r =
    typeof match === "string"
      ? rewriteRuleHosts(match, (host) => mapHost(host, mapping.hostCtx), mapping.dialect)
      : { ok: false as const, reason: "must be a rule such as Host(`example.com`)" };
  if (!r.ok) {
    remarks.push({
      reason: Reason.InvalidHost,
      message: formatFieldError(
        fieldError(`spec.routes[${i}].match`, String(match ?? ""), `route left out: ${r.reason}`),
      ),
    });
    return undefined;
  }
  const out: JsonObject = { ...route, match: r.rule };
  if (mapping.crossNamespace && Array.isArray(route.middlewares)) {
    out.middlewares = route.middlewares.map((m) => qualified(m, mapping.sourceNamespace));
  }
  if (Array.isArray(route.services)) {
    out.services = route.services.map((service) => placeService(service, mapping));
  }
  return out;
}

/** tld-secret-name on a route kind without spec.tls: adding TLS would change what it accepts. */
function tlsSecretIgnored(kind: string, secret: string): Remark {
  return {
    reason: Reason.IgnoredAnnotation,
    message: formatFieldError(
      fieldError(
        annotationField(Annotation.tldSecretName),
        secret,
        `ignored: the ${kind} has no spec.tls, and adding it would make the routes accept only TLS connections`,
      ),
    ),
  };
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
      const hostCtx = hostContextOf(source, ctx);
      const sourceNamespace = source.metadata.namespace ?? "";
      const mapping: RouteMapping = {
        hostCtx,
        dialect,
        sourceNamespace,
        crossNamespace: ctx.config.traefikMiddlewares === "crossNamespace",
        // With traefikBackends "source" across namespaces, with "local" through the ExternalName
        // mirror.
        placement: backendPlacement(
          sourceNamespace,
          ctx.config.traefikBackends === "source",
          ctx.branch,
        ),
      };
      const routes = asArray(spec.routes).flatMap((route, i) => {
        const mapped = isRecord(route) ? mapRoute(route, i, mapping, remarks) : undefined;
        return mapped === undefined ? [] : [mapped];
      });
      if (routes.length === 0) return noneLeftAfterHostMapping("route", remarks);

      const out: JsonObject = { ...spec, routes };
      if (isRecord(spec.tls)) {
        out.tls = mapTLS(spec.tls, hostCtx, ctx, remarks);
      } else {
        delete out.tls;
        if (ctx.spec.tldSecretName !== undefined)
          remarks.push(tlsSecretIgnored(kind, ctx.spec.tldSecretName));
      }

      const metadata = withLocalBackends(metadataOf(source, ctx), mapping.placement.local);
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
