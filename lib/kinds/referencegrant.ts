import { createHash } from "node:crypto";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../constants.ts";
import { MAX_SUBDOMAIN } from "../dns.ts";
import { compareStrings, observedMirrorMetadata } from "../metadata.ts";
import type { KubeObject, ObjectMeta } from "../types.ts";
import type { CompanionKind } from "./kind.ts";
import { asArray, specOf, uniqueByJson } from "./shapes.ts";

// Gateway API ReferenceGrants: a companion kind. Never a source; the HTTPRoute module returns one
// as a companion in the source namespace when config gatewayBackends is "source", so that the
// mirrors in a feature namespace may send traffic to the source namespace's Services.

export const GATEWAY_GROUP = "gateway.networking.k8s.io";

const NAME_PREFIX = "kube-external-sync-";

/**
 * The name of the grant in a source namespace that lets routes in `target` reach its Services.
 * One per target namespace, shared by every route mirrored there. Namespace names are DNS labels,
 * so it always fits; a stable hash-suffixed truncation guards the 253-character limit anyway.
 */
export function referenceGrantName(target: string): string {
  const name = `${NAME_PREFIX}${target}`;
  if (name.length <= MAX_SUBDOMAIN) return name;
  const hash = createHash("sha256").update(target).digest("hex").slice(0, 10);
  return `${name.slice(0, MAX_SUBDOMAIN - hash.length - 1).replace(/[-.]+$/, "")}-${hash}`;
}

interface GrantSpec {
  from: unknown[];
  to: unknown[];
}

function grant(apiVersion: string, metadata: ObjectMeta, spec: GrantSpec): KubeObject {
  return { apiVersion, kind: "ReferenceGrant", metadata, spec };
}

/**
 * The grant in `sourceNamespace` that lets `fromKind` objects in `target` reference the named
 * Services there, and no others.
 */
export function serviceReferenceGrant(
  apiVersion: string,
  sourceNamespace: string,
  target: string,
  fromKind: string,
  services: readonly string[],
): KubeObject {
  return grant(
    apiVersion,
    {
      name: referenceGrantName(target),
      namespace: sourceNamespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    },
    {
      from: [{ group: GATEWAY_GROUP, kind: fromKind, namespace: target }],
      to: services.map((name) => ({ group: "", kind: "Service", name })),
    },
  );
}

export const referenceGrantKind: CompanionKind = {
  role: "companion",
  kind: "ReferenceGrant",
  group: GATEWAY_GROUP,
  resource: "referencegrants",
  versions: ["v1beta1", "v1"],
  companionNames: (target) => [referenceGrantName(target)],

  // Several routes share the grant of a target namespace: it names every Service any of them
  // reaches, in a stable order.
  mergeCompanions(first, second) {
    const to = uniqueByJson([
      ...asArray(specOf<GrantSpec>(first).to),
      ...asArray(specOf<GrantSpec>(second).to),
    ])
      .map((entry) => ({ key: JSON.stringify(entry), entry }))
      .sort((x, y) => compareStrings(x.key, y.key))
      .map(({ entry }) => entry);
    return { ...first, spec: { ...specOf<GrantSpec>(first), to } };
  },

  rebuild(observed, ctx) {
    const spec = specOf<GrantSpec>(observed);
    const metadata = observedMirrorMetadata(observed, ctx.namespace);
    // Companions are written without annotations: keep the shape when nothing is left.
    if (metadata.annotations !== undefined && Object.keys(metadata.annotations).length === 0)
      delete metadata.annotations;
    return grant(ctx.apiVersion, metadata, {
      from: asArray(spec.from),
      to: asArray(spec.to),
    });
  },
};
