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

/** A sync request, after normalising hook versions v1 (`object`) and v2 (`parent`). */
export interface SyncRequest {
  controllerName: string;
  attachmentRules: AttachmentRule[];
  namespace: KubeObject;
  attachments: ObjectMap;
  related: ObjectMap;
}

export interface SyncResponse {
  labels: Record<string, string | null>;
  annotations: Record<string, string | null>;
  attachments: KubeObject[];
  resyncAfterSeconds: number;
}

export interface CustomizeRequest {
  attachmentRules: AttachmentRule[];
  namespace: KubeObject;
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

/** One line of the namespace status: what was not mirrored or is questionable, and why. */
export interface Issue {
  reason: Reason;
  /** `Kind/name` of the mirror concerned, or `Namespace/<name>`. */
  object: string;
  /** `namespace/name` of the source, when there is one. */
  source?: string;
  message: string;
}
