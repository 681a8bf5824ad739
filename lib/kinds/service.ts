import { Reason } from "../constants.ts";
import { isDnsSubdomain, whyNotSubdomain } from "../dns.ts";
import { observedMirrorMetadata } from "../metadata.ts";
import type { KubeObject } from "../types.ts";
import { metadataOf, type Remark, type SourceKind } from "./kind.ts";
import { asArray, specOf } from "./shapes.ts";

// Service mirrors (README, Service mirrors): an ExternalName Service of the same name pointing at
// the source's cluster DNS name, with the source's ports.

interface ServicePort {
  name?: string;
  protocol?: string;
  port?: number;
  targetPort?: number | string;
  appProtocol?: string;
}

/** The port fields an ExternalName Service needs; never nodePort (it means nothing there). */
function portOf(p: ServicePort): ServicePort {
  const out: ServicePort = {};
  if (p.name !== undefined) out.name = p.name;
  if (p.protocol !== undefined) out.protocol = p.protocol;
  if (p.port !== undefined) out.port = p.port;
  if (p.targetPort !== undefined) out.targetPort = p.targetPort;
  if (p.appProtocol !== undefined) out.appProtocol = p.appProtocol;
  return out;
}

function hasPort(ports: readonly ServicePort[], port: number): boolean {
  for (const p of ports) if (p.port === port) return true;
  return false;
}

function portsOf(obj: KubeObject): ServicePort[] {
  return asArray(specOf<{ ports: ServicePort[] }>(obj).ports).map(portOf);
}

function service(
  apiVersion: string,
  metadata: KubeObject["metadata"],
  externalName: string,
  ports: ServicePort[],
): KubeObject {
  const spec: Record<string, unknown> = { type: "ExternalName", externalName };
  if (ports.length > 0) spec.ports = ports;
  return { apiVersion, kind: "Service", metadata, spec };
}

export const serviceKind: SourceKind = {
  role: "source",
  kind: "Service",
  group: "",
  resource: "services",
  versions: ["v1"],

  mirror(source, ctx) {
    const suffix = ctx.spec.externalNameSuffix ?? ctx.config.externalNameSuffix;
    const externalName = `${source.metadata.name}.${source.metadata.namespace}.${suffix}`;
    if (!isDnsSubdomain(externalName)) {
      return {
        mirror: undefined,
        remarks: [
          {
            reason: Reason.InvalidHost,
            message: `externalName "${externalName}" is not a valid DNS name: ${whyNotSubdomain(externalName)}`,
          },
        ],
      };
    }
    // Metacontroller's apply merges ports by number: two ports with one number (53/TCP and
    // 53/UDP) would collapse into one and fail every update. An ExternalName Service carries no
    // traffic itself, so one entry per number keeps all it needs.
    const ports: ServicePort[] = [];
    const remarks: Remark[] = [];
    const all = portsOf(source);
    for (let i = 0; i < all.length; i++) {
      const p = all[i] as ServicePort;
      if (p.port === undefined || !hasPort(ports, p.port)) {
        ports.push(p);
        continue;
      }
      remarks.push({
        reason: Reason.NotCopied,
        message: `spec.ports[${i}] (${p.port}/${p.protocol ?? "TCP"}) is not copied: a mirror keeps one port per number, as Metacontroller merges ports by number`,
      });
    }
    return {
      mirror: service(ctx.apiVersion, metadataOf(source, ctx), externalName, ports),
      remarks,
    };
  },

  rebuild(observed, ctx) {
    const { externalName } = specOf(observed);
    return service(
      ctx.apiVersion,
      observedMirrorMetadata(observed, ctx.namespace),
      typeof externalName === "string" ? externalName : "",
      portsOf(observed),
    );
  },
};
