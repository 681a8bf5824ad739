import type { BranchFacts } from "../branch.ts";
import { Annotation } from "../constants.ts";
import { sortedRecord } from "../metadata.ts";
import type { ObjectMeta } from "../types.ts";
import { isRecord } from "./shapes.ts";

// Backends follow the branch (docs/design.md, Backends follow the branch): route mirrors decide
// per Service reference whether it goes to the branch's own Service or to the baseline, so a
// branch overrides exactly the Services it runs and reaches everything else in the source
// namespace. Shared by the HTTPRoute and Traefik route modules.

/** A Service reference of a route: a name and maybe a namespace, plus fields kept as they are. */
interface ServiceRef {
  name?: unknown;
  namespace?: unknown;
  [field: string]: unknown;
}

export interface BackendPlacement {
  /** The reference as the mirror carries it: local, pointed at the source, or unchanged. */
  place<Ref>(ref: Ref): Ref;
  /** Names of the backends the branch serves itself, among the references placed so far. */
  readonly local: ReadonlySet<string>;
}

/**
 * Places the Service references of one route mirror of a source in `sourceNamespace`. A reference
 * into the source namespace (no namespace, or that one) whose Service the branch runs itself
 * becomes local; otherwise it goes to the baseline: pointed at the source namespace when
 * `toSource`, else left as it is (a local name then resolves to the ExternalName mirror). A
 * reference into any other namespace is never touched.
 */
export function backendPlacement(
  sourceNamespace: string,
  toSource: boolean,
  branch: BranchFacts,
): BackendPlacement {
  const local = new Set<string>();
  return {
    local,
    place<Ref>(ref: Ref): Ref {
      if (!isRecord(ref)) return ref;
      const { name, namespace } = ref as ServiceRef;
      const unqualified = namespace === undefined || namespace === "";
      if (typeof name !== "string" || !(unqualified || namespace === sourceNamespace)) return ref;
      if (branch.runsService(name)) {
        local.add(name);
        if (unqualified) return ref;
        const { namespace: _dropped, ...rest } = ref as ServiceRef;
        return rest as Ref;
      }
      return toSource && unqualified ? ({ ...ref, namespace: sourceNamespace } as Ref) : ref;
    },
  };
}

/** The mirror's metadata naming the backends the branch serves itself, when there are any. */
export function withLocalBackends(metadata: ObjectMeta, local: ReadonlySet<string>): ObjectMeta {
  if (local.size === 0) return metadata;
  const annotations = {
    ...metadata.annotations,
    [Annotation.localBackends]: [...local].sort().join(","),
  };
  return { ...metadata, annotations: sortedRecord(annotations) };
}
