import type { Reason } from "./constants.ts";

// The plain shapes of Kubernetes objects and Metacontroller's hook messages, as the logic sees them.

export interface ObjectMeta {
  name: string;
  namespace?: string | undefined;
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Objects of one kind keyed by `namespace/name`. */
export type ObjectsByName = Record<string, KubeObject>;
/** Objects keyed by `Kind.version` or `Kind.group/version`, then by `namespace/name`. */
export type ObjectMap = Record<string, ObjectsByName>;

export interface AttachmentRule {
  apiVersion: string;
  resource: string;
  [field: string]: unknown;
}

export interface SyncResponse {
  labels: Record<string, string | null>;
  annotations: Record<string, string | null>;
  attachments: KubeObject[];
  resyncAfterSeconds: number;
}

export interface RelatedResourceRule {
  apiVersion: string;
  resource: string;
  namespace: string;
  labelSelector?: { matchExpressions: { key: string; operator: string; values?: string[] }[] };
  names?: string[];
}

export interface CustomizeResponse {
  relatedResources: RelatedResourceRule[];
}

/** Where a mirror comes from: a source object in a source namespace. */
export interface SourceRef {
  namespace: string;
  name: string;
}

/** What was not mirrored or is questionable, and why: a line of the namespace status to be. */
export interface Issue {
  reason: Reason;
  /** Kind of the mirror concerned, or `Namespace` for the target namespace's own annotation. */
  kind: string;
  /** Name of the mirror concerned, or of the target namespace. */
  name: string;
  /** The source, when there is one. */
  source?: SourceRef | undefined;
  message: string;
}
