import { clip, isDnsSubdomain, isRouteHost, whyNotSubdomain } from "./dns.ts";
import { fail, fieldError, ok, type Result } from "./errors.ts";

// Moving a source's host (Ingress rule, HTTPRoute hostname, Traefik rule host) into a feature
// namespace's domain (docs/design.md, Host mapping).

/** Parses `*.example.com` (or `example.com`) into its base domain; "" stays "" (unset). */
export function parseTopLevelDomain(value: string, field: string): Result<string> {
  const trimmed = value.trim();
  if (trimmed === "") return ok("");
  const base = trimmed.startsWith("*.") ? trimmed.slice(2) : trimmed;
  if (!isDnsSubdomain(base)) {
    return fail(
      fieldError(
        field,
        value,
        `must be a wildcard domain such as "*.example.com": ${whyNotSubdomain(base)}`,
      ),
    );
  }
  return ok(base);
}

export const TEMPLATE_PLACEHOLDERS = [
  "namespace",
  "sourceNamespace",
  "name",
  "ingress",
  "host",
] as const;
type Placeholder = (typeof TEMPLATE_PLACEHOLDERS)[number];
export type TemplateValues = Record<Placeholder, string>;

export interface HostTemplate {
  readonly text: string;
  render(values: TemplateValues): string;
}

/** Parses a host template such as `{name}-{namespace}.example.com`. */
export function parseHostTemplate(value: string, field: string): Result<HostTemplate> {
  const bad = (detail: string) => fail<HostTemplate>(fieldError(field, value, detail));
  const text = value.trim();
  if (text === "") return bad("must not be empty");
  if (text.length > 253) return bad(`has ${text.length} characters; a host has at most 253`);
  const parts: (string | { p: Placeholder })[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf("{", i);
    const close = text.indexOf("}", i);
    if (close !== -1 && (open === -1 || close < open))
      return bad(`unmatched "}" at position ${close}`);
    if (open === -1) {
      parts.push(text.slice(i));
      break;
    }
    if (open > i) parts.push(text.slice(i, open));
    const end = text.indexOf("}", open);
    if (end === -1) return bad(`unmatched "{" at position ${open}`);
    const name = text.slice(open + 1, end);
    if (!(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(name)) {
      return bad(
        `unknown placeholder {${clip(name, 30)}}; known: ${TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`,
      );
    }
    parts.push({ p: name as Placeholder });
    i = end + 1;
  }
  if (!parts.some((p) => typeof p !== "string" && p.p === "namespace")) {
    return bad("must contain {namespace}, or every feature namespace would get the same host");
  }
  // Check the literal text by rendering with harmless values.
  const sample = parts.map((p) => (typeof p === "string" ? p : "x")).join("");
  if (!isRouteHost(sample)) return bad(`does not form a valid host: ${whyNotSubdomain(sample)}`);
  return ok({
    text,
    render: (values) => parts.map((p) => (typeof p === "string" ? p : values[p.p])).join(""),
  });
}

export interface HostContext {
  /** The target namespace. */
  namespace: string;
  sourceNamespace: string;
  /** The source object's name (an Ingress, HTTPRoute or IngressRoute). */
  sourceName: string;
  /** Base domain `example.com` of the top-level domain `*.example.com`, or "" when none applies. */
  topLevelDomain: string;
  template: HostTemplate | undefined;
}

export type HostMapping = { ok: true; host: string } | { ok: false; reason: string };

const mapped = (host: string): HostMapping =>
  isRouteHost(host)
    ? { ok: true, host }
    : {
        ok: false,
        reason: `mapped host "${clip(host, 100)}" is not a valid DNS name: ${whyNotSubdomain(host.replace(/^\*\./, ""))}`,
      };

/** The host a rule with source host `host` ("" for a catch-all rule) gets in the target. */
export function mapHost(host: string, ctx: HostContext): HostMapping {
  const targetNamespace = ctx.namespace;
  if (ctx.template !== undefined) {
    const wildcardOrEmpty = host === "" || host.startsWith("*.");
    return mapped(
      ctx.template.render({
        namespace: targetNamespace,
        sourceNamespace: ctx.sourceNamespace,
        name: wildcardOrEmpty ? ctx.sourceName : firstLabel(host),
        ingress: ctx.sourceName,
        host,
      }),
    );
  }
  const baseDomain = ctx.topLevelDomain;
  if (baseDomain !== "") {
    const featureDomain = `${targetNamespace}.${baseDomain}`;
    if (host.endsWith(`.${baseDomain}`)) {
      // One label under the base domain (or its wildcard) is the feature domain itself; deeper
      // hosts keep their leading labels and swap the one directly under the base domain.
      const underBase = host.slice(0, -baseDomain.length - 1);
      const lastDot = underBase.lastIndexOf(".");
      return mapped(
        lastDot < 0 ? featureDomain : `${underBase.slice(0, lastDot)}.${featureDomain}`,
      );
    }
    // The base domain itself, a host outside it and the catch-all all land on the feature domain.
    return mapped(featureDomain);
  }
  if (host === "") {
    return {
      ok: false,
      reason:
        "a rule without host is not copied without a top-level domain: it would compete with the source's catch-all",
    };
  }
  const firstDot = host.indexOf(".");
  if (firstDot < 0) {
    return {
      ok: false,
      reason: `single-label host "${clip(host, 63)}" is not copied without a top-level domain`,
    };
  }
  // Two labels gain the namespace in front; more swap the first label for it.
  const twoLabels = host.indexOf(".", firstDot + 1) < 0;
  return mapped(`${targetNamespace}.${twoLabels ? host : host.slice(firstDot + 1)}`);
}

/** The first label of a host. */
function firstLabel(host: string): string {
  const dot = host.indexOf(".");
  return dot < 0 ? host : host.slice(0, dot);
}
