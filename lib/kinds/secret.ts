import { ISSUER_KEY_PREFIXES, Reason, TLS_DATA_KEYS, TLS_SECRET_TYPE } from "../constants.ts";
import { clip } from "../dns.ts";
import { observedMirrorMetadata } from "../metadata.ts";
import type { KubeObject } from "../types.ts";
import { metadataOf, type SourceKind } from "./kind.ts";
import { isRecord } from "./shapes.ts";

// TLS Secret mirrors (README, TLS Secret mirrors; opt-in, the tls-secrets component): a Secret of
// type kubernetes.io/tls in a source namespace is mirrored under the same name with its
// certificate, key and CA data and nothing else, so the Ingress and route mirrors that name it find
// it in the branch. No other type is ever mirrored. The data is copied as it is and never read:
// it must not reach a log line, a status message, a metric or an error message, so no message
// here quotes anything from `data` (only key names and the type).

/** The TLS keys of `data` whose value is a string, in a fixed order; nothing else. */
function tlsData(data: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(data)) return out;
  for (const key of TLS_DATA_KEYS) {
    const value = data[key];
    if (typeof value === "string") out[key] = value;
  }
  return out;
}

/** The mirror's metadata without cert-manager's keys: the copy is not cert-manager's. */
function withoutIssuerKeys(metadata: KubeObject["metadata"]): KubeObject["metadata"] {
  const keep = (map: Record<string, string> | undefined) =>
    Object.fromEntries(
      Object.entries(map ?? {}).filter(
        ([key]) => !ISSUER_KEY_PREFIXES.some((p) => key.startsWith(p)),
      ),
    );
  return { ...metadata, labels: keep(metadata.labels), annotations: keep(metadata.annotations) };
}

/**
 * Why a source Secret gets no mirror, or undefined when it gets one: only the TLS type, and only
 * with a certificate and a key (the API server refuses a TLS Secret without them, so a mirror of
 * one would fail every apply).
 */
export function whyNotMirrored(source: KubeObject): string | undefined {
  if (source.type !== TLS_SECRET_TYPE) {
    const type = typeof source.type === "string" ? clip(source.type, 100) : "Opaque";
    return `type ${JSON.stringify(type)} is not mirrored: only Secrets of type ${TLS_SECRET_TYPE} are`;
  }
  const data = tlsData(source.data);
  if (data["tls.crt"] === undefined || data["tls.key"] === undefined) {
    return "not mirrored: a TLS Secret needs both tls.crt and tls.key";
  }
  return undefined;
}

function secret(
  apiVersion: string,
  metadata: KubeObject["metadata"],
  data: Record<string, string>,
): KubeObject {
  return { apiVersion, kind: "Secret", metadata, type: TLS_SECRET_TYPE, data };
}

export const secretKind: SourceKind = {
  role: "source",
  kind: "Secret",
  group: "",
  resource: "secrets",
  versions: ["v1"],
  decidedFirst: true,

  mirror(source, ctx) {
    const refusal = whyNotMirrored(source);
    if (refusal !== undefined) {
      return { mirror: undefined, remarks: [{ reason: Reason.NotCopied, message: refusal }] };
    }
    // Key names only: the values are the secret.
    const dropped = Object.keys(isRecord(source.data) ? source.data : {})
      .filter((key) => !(TLS_DATA_KEYS as readonly string[]).includes(key))
      .sort();
    const remarks =
      dropped.length === 0
        ? []
        : [
            {
              reason: Reason.NotCopied,
              message: `data not copied, a TLS mirror carries only ${TLS_DATA_KEYS.join(", ")}: keys ${clip(dropped.join(", "), 120)}`,
            },
          ];
    return {
      mirror: secret(
        ctx.apiVersion,
        withoutIssuerKeys(metadataOf(source, ctx)),
        tlsData(source.data),
      ),
      remarks,
    };
  },

  rebuild(observed, ctx) {
    return secret(
      ctx.apiVersion,
      observedMirrorMetadata(observed, ctx.namespace),
      tlsData(observed.data),
    );
  },
};
