import type { SourceSpec } from "./annotations.ts";
import type { Config } from "./config.ts";
import type { KubeObject } from "./types.ts";

// Which namespaces a source targets (docs/design.md#targeting).

/** Rule 1: source namespaces, excluded namespaces and the hook's own never receive mirrors. */
export function isEligibleNamespace(name: string, config: Config): boolean {
  return (
    !config.sourceNamespaces.includes(name) &&
    !config.excludeNamespaces.matches(name) &&
    name !== config.podNamespace
  );
}

/** Rules 3 to 5, for a namespace already known to be eligible. */
export function isTargetOf(spec: SourceSpec, namespace: KubeObject): boolean {
  const { name, labels, annotations } = namespace.metadata;
  if (spec.excludeNamespaces?.matches(name)) return false;
  return (
    spec.replicateTo?.matches(name) === true ||
    spec.replicateToMatching?.matches(labels) === true ||
    spec.replicateToAnnotated?.matches(annotations) === true
  );
}
