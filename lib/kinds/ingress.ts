import { Reason } from "../constants.ts";
import { clip } from "../dns.ts";
import { type HostContext, mapHost } from "../hosts.ts";
import { observedMirrorMetadata } from "../metadata.ts";
import type { KubeObject } from "../types.ts";
import {
  hostContextOf,
  type MirrorContext,
  metadataOf,
  type Remark,
  type Route,
  type SourceKind,
} from "./kind.ts";
import {
  appendUniqueByJson,
  asArray,
  noneLeftAfterHostMapping,
  specOf,
  uniqueByJson,
} from "./shapes.ts";

// Ingress mirrors (docs/design.md, Host mapping): the source's rules with hosts moved into the feature
// namespace's domain. Backends are copied unchanged: `service.name: api` resolves in the target
// to the Service mirror `api`, or to a real `api` the branch deployed.

interface IngressRule {
  host?: string;
  http?: { paths?: unknown[] };
  [field: string]: unknown;
}
interface IngressTLS {
  hosts?: string[];
  secretName?: string;
}
interface IngressSpec {
  ingressClassName?: string;
  defaultBackend?: unknown;
  rules?: IngressRule[];
  tls?: IngressTLS[];
}

interface IngressPath {
  path?: string;
  pathType?: string;
  backend?: unknown;
}

/**
 * Merges rules that ended up with the same host; their paths are concatenated, deduplicated. Two
 * source hosts can map to one (`api.example.com` and `www.example.com` both to `<namespace>.example.com`):
 * the same path with different backends is then ambiguous, and reported.
 */
function mergeRules(rules: IngressRule[], remarks: Remark[]): IngressRule[] {
  const byHost = new Map<string, IngressRule>();
  for (const rule of rules) {
    const key = rule.host ?? "";
    const seen = byHost.get(key);
    if (seen === undefined) {
      byHost.set(
        key,
        rule.http
          ? { ...rule, http: { ...rule.http, paths: [...asArray(rule.http.paths)] } }
          : { ...rule },
      );
    } else if (rule.http) {
      const paths = seen.http ? asArray(seen.http.paths) : [];
      for (const p of asArray(rule.http.paths) as IngressPath[]) {
        const clash = (paths as IngressPath[]).find(
          (q) =>
            q.path === p.path &&
            q.pathType === p.pathType &&
            JSON.stringify(q.backend) !== JSON.stringify(p.backend),
        );
        if (clash) {
          remarks.push({
            reason: Reason.HostCollision,
            message: `${key}${p.path ?? "/"} gets two backends: several source hosts map to ${key}; set host-template to tell them apart`,
          });
        }
      }
      appendUniqueByJson(paths, asArray(rule.http.paths));
      seen.http = { ...seen.http, paths };
    }
  }
  return [...byHost.values()];
}

/** TLS entries with hosts deduplicated and identical entries dropped. */
function dedupeTLS(entries: IngressTLS[]): IngressTLS[] {
  return uniqueByJson(
    entries.map((e) => {
      const entry: IngressTLS = {};
      if (e.hosts !== undefined) entry.hosts = [...new Set(e.hosts)];
      if (e.secretName !== undefined) entry.secretName = e.secretName;
      return entry;
    }),
  );
}

function ingress(
  apiVersion: string,
  metadata: KubeObject["metadata"],
  spec: IngressSpec,
): KubeObject {
  const out: IngressSpec = {};
  if (spec.ingressClassName !== undefined) out.ingressClassName = spec.ingressClassName;
  out.rules = asArray(spec.rules);
  if (spec.tls !== undefined && spec.tls.length > 0) out.tls = spec.tls;
  return { apiVersion, kind: "Ingress", metadata, spec: out };
}

/** A source TLS entry with its hosts mapped, or none when host mapping left no host. */
function mappedTLS(
  entry: IngressTLS,
  hostCtx: HostContext,
  ctx: MirrorContext,
  remarks: Remark[],
): IngressTLS[] {
  const mapped: IngressTLS = {};
  if (entry.hosts !== undefined) {
    mapped.hosts = entry.hosts.flatMap((h) => {
      const m = mapHost(h, hostCtx);
      if (m.ok) return [m.host];
      remarks.push({
        reason: Reason.InvalidHost,
        message: `TLS host "${clip(h, 100)}" left out: ${m.reason}`,
      });
      return [];
    });
  }
  // An entry whose hosts were all dropped would read as a catch-all TLS entry: leave it out.
  const hadHosts = entry.hosts !== undefined && entry.hosts.length > 0;
  if (hadHosts && mapped.hosts?.length === 0) return [];
  const secret = ctx.spec.tldSecretName;
  const secretName = secret ?? entry.secretName;
  if (secretName !== undefined) mapped.secretName = secretName;
  const present = ctx.branch.hasSecret(entry.secretName ?? "");
  if (secret === undefined && entry.secretName !== undefined && !present) {
    remarks.push({
      reason: Reason.TLSSecretRequired,
      message: `TLS secret "${entry.secretName}" must exist in namespace ${ctx.namespace}: it is not mirrored (annotate it for the tls-secrets component, or set tld-secret-name)`,
    });
  }
  return [mapped];
}

export const ingressKind: SourceKind = {
  role: "source",
  kind: "Ingress",
  group: "networking.k8s.io",
  resource: "ingresses",
  versions: ["v1"],

  mirror(source, ctx) {
    const spec = specOf<IngressSpec>(source);
    const remarks: Remark[] = [];
    const hostCtx = hostContextOf(source, ctx);
    const mapRuleHost = (host: string | undefined): string | undefined => {
      const m = mapHost(host ?? "", hostCtx);
      if (m.ok) return m.host;
      remarks.push({
        reason: Reason.InvalidHost,
        message: `rule for ${host ? `host "${clip(host, 100)}"` : "no host"} left out: ${m.reason}`,
      });
      return undefined;
    };

    if (spec.defaultBackend !== undefined) {
      remarks.push({
        reason: Reason.DefaultBackendDropped,
        message:
          "spec.defaultBackend is not copied: it would capture traffic meant for other hosts",
      });
    }

    const rules: IngressRule[] = [];
    for (const rule of asArray(spec.rules)) {
      const host = mapRuleHost(rule.host);
      if (host !== undefined) rules.push({ ...rule, host });
    }
    if (rules.length === 0) return noneLeftAfterHostMapping("rule", remarks);
    const merged = mergeRules(rules, remarks);

    const sourceTLS = asArray(spec.tls);
    const secret = ctx.spec.tldSecretName;
    const tls = dedupeTLS(
      sourceTLS.length > 0
        ? sourceTLS.flatMap((entry) => mappedTLS(entry, hostCtx, ctx, remarks))
        : secret !== undefined
          ? [{ hosts: merged.flatMap((r) => (r.host ? [r.host] : [])), secretName: secret }]
          : [],
    );

    const metadata = metadataOf(source, ctx);
    const out: IngressSpec = { rules: merged, tls };
    if (spec.ingressClassName !== undefined) out.ingressClassName = spec.ingressClassName;
    return { mirror: ingress(ctx.apiVersion, metadata, out), remarks };
  },

  rebuild(observed, ctx) {
    return ingress(
      ctx.apiVersion,
      observedMirrorMetadata(observed, ctx.namespace),
      specOf<IngressSpec>(observed),
    );
  },

  routes(mirror) {
    const routes: Route[] = [];
    for (const rule of asArray(specOf<IngressSpec>(mirror).rules)) {
      const host = rule.host ?? "";
      const paths = asArray(rule.http?.paths) as { path?: string }[];
      if (paths.length === 0) routes.push({ host, path: "" });
      for (const p of paths) routes.push({ host, path: p.path ?? "/" });
    }
    return routes;
  },
};
