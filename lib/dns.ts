// DNS name rules of Kubernetes (RFC 1123 as the API server applies them). Inputs are length-checked
// before any pattern runs, so every check here is linear in a bounded string.

export const MAX_LABEL = 63;
export const MAX_SUBDOMAIN = 253;

const DOT = 0x2e;
const DASH = 0x2d;
const isAlphanumeric = (code: number) =>
  (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39);

/**
 * The labels of `value` from `start` to `end` are each 1 to 63 lowercase letters, digits and '-',
 * starting and ending with a letter or digit. Checked character by character: every mirror's
 * names go through here, and a pattern or a split would allocate for each.
 */
function areDnsLabels(value: string, start: number, end: number): boolean {
  let labelStart = start;
  for (let at = start; at <= end; at++) {
    const code = at === end ? DOT : value.charCodeAt(at);
    if (code === DOT) {
      const length = at - labelStart;
      if (length === 0 || length > MAX_LABEL || value.charCodeAt(at - 1) === DASH) return false;
      labelStart = at + 1;
    } else if (!isAlphanumeric(code) && (code !== DASH || at === labelStart)) {
      return false;
    }
  }
  return true;
}

export function isDnsLabel(value: string): boolean {
  return (
    value.length > 0 &&
    value.length <= MAX_LABEL &&
    value.indexOf(".") < 0 &&
    areDnsLabels(value, 0, value.length)
  );
}

export function isDnsSubdomain(value: string): boolean {
  return value.length > 0 && value.length <= MAX_SUBDOMAIN && areDnsLabels(value, 0, value.length);
}

/**
 * A host a route serves (Ingress, HTTPRoute, Traefik): a DNS subdomain, optionally with a leading
 * "*." wildcard label.
 */
export function isRouteHost(value: string): boolean {
  if (value.startsWith("*."))
    return value.length <= MAX_SUBDOMAIN && isDnsSubdomain(value.slice(2));
  return isDnsSubdomain(value);
}

/** Explains why `value` is not a DNS subdomain, for messages. */
export function whyNotSubdomain(value: string): string {
  if (value.length === 0) return "it is empty";
  if (value.length > MAX_SUBDOMAIN)
    return `it has ${value.length} characters, more than ${MAX_SUBDOMAIN}`;
  const long = value.split(".").find((l) => l.length > MAX_LABEL);
  if (long !== undefined) {
    return `its label "${clip(long, 20)}" has ${long.length} characters, more than ${MAX_LABEL}`;
  }
  return "labels must be lowercase letters, digits and '-', starting and ending with a letter or digit";
}

/** Shortens a user-supplied value for a message. */
export function clip(value: string, max = 80): string {
  const oneLine = value.replace(/[\r\n\t]+/g, " ");
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}
