import { RequestError } from "../errors.ts";
import type { AttachmentRule } from "../types.ts";
import { httpRouteKind } from "./httproute.ts";
import { ingressKind } from "./ingress.ts";
import { TRAEFIK_ROUTE_KINDS } from "./ingressroute.ts";
import type { KindModule } from "./kind.ts";
import { TRAEFIK_MIDDLEWARE_KINDS } from "./middleware.ts";
import { referenceGrantKind } from "./referencegrant.ts";
import { secretKind } from "./secret.ts";
import { serviceKind } from "./service.ts";

/**
 * Every kind this hook knows: source kinds it mirrors and companion kinds it writes beside their
 * mirrors. Adding a kind is adding its module here (README, Adding a kind).
 */
export const KINDS: readonly KindModule[] = [
  serviceKind,
  ingressKind,
  httpRouteKind,
  referenceGrantKind,
  ...TRAEFIK_ROUTE_KINDS,
  ...TRAEFIK_MIDDLEWARE_KINDS,
  secretKind,
];

/** A kind as the DecoratorController declares it. */
export interface DeclaredKind<Module extends KindModule = KindModule> {
  module: Module;
  apiVersion: string;
  /** The key of its objects in the request maps: `Kind.version` or `Kind.group/version`. */
  key: string;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf("/");
  return slash < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** Maps the controller's attachment rules to kind modules; an unknown kind is a request error. */
export function declaredKinds(rules: readonly AttachmentRule[]): DeclaredKind[] {
  return rules.map((rule, i) => {
    const { group, version } = splitApiVersion(rule.apiVersion);
    const module = KINDS.find((k) => k.group === group && k.resource === rule.resource);
    const supported = KINDS.map(
      (k) => `${k.resource} (${k.group ? `${k.group}/` : ""}${k.versions.join(", ")})`,
    ).join(", ");
    if (module === undefined || !module.versions.includes(version)) {
      throw new RequestError(
        `controller.spec.attachments[${i}]: Unsupported value: ${JSON.stringify(`${rule.apiVersion} ${rule.resource}`)}: kube-external-sync mirrors ${supported}`,
      );
    }
    return {
      module,
      apiVersion: rule.apiVersion,
      key: group === "" ? `${module.kind}.${version}` : `${module.kind}.${rule.apiVersion}`,
    };
  });
}

/** The declared kinds that play `role`, typed by it. */
export function declaredInRole<Role extends KindModule["role"]>(
  kinds: readonly DeclaredKind[],
  role: Role,
): DeclaredKind<Extract<KindModule, { role: Role }>>[] {
  return kinds.filter(
    (k): k is DeclaredKind<Extract<KindModule, { role: Role }>> => k.module.role === role,
  );
}
