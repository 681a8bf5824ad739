// Every annotation key, label and reason code the product reads or writes, in one place.

export const PREFIX = "kube-external-sync.io/";

/** Annotations read on a source object. */
export const Annotation = {
  replicateTo: `${PREFIX}replicate-to`,
  replicateToMatching: `${PREFIX}replicate-to-matching`,
  replicateToAnnotated: `${PREFIX}replicate-to-annotated`,
  excludeNamespaces: `${PREFIX}exclude-namespaces`,
  externalNameSuffix: `${PREFIX}external-name-suffix`,
  topLevelDomain: `${PREFIX}top-level-domain`,
  hostTemplate: `${PREFIX}host-template`,
  tldSecretName: `${PREFIX}tld-secret-name`,
  stripLabels: `${PREFIX}strip-labels`,
  stripAnnotations: `${PREFIX}strip-annotations`,
  /** v1 key, deliberately unsupported: reported and ignored. */
  keepOwnerReferences: `${PREFIX}keep-owner-references`,
  /** Written by the hook on every mirror. */
  replicatedFrom: `${PREFIX}replicated-from`,
  /**
   * Written by the hook on a route mirror: the backends the branch serves itself (sorted, comma
   * separated), which the mirror sends to the branch's own Services instead of the baseline.
   */
  localBackends: `${PREFIX}local-backends`,
  /** Read on a target namespace. */
  skip: `${PREFIX}skip`,
  /** Written by the hook on the parent namespace: what needs a person; absent when nothing. */
  status: `${PREFIX}status`,
  /** Written by the hook on the parent namespace: the hosts its route mirrors serve. */
  hosts: `${PREFIX}hosts`,
} as const;

/** Labels the hook writes on the parent namespace. */
export const Label = {
  /** The namespace's state (README, Status at a glance): absent, `Synced` or `Degraded`. */
  state: `${PREFIX}state`,
} as const;

/** Values of the state label. */
export const State = {
  /** Nothing reported, and every mirror the namespace should have was seen in place once. */
  Synced: "Synced",
  /** The status annotation lists a problem (any reason but `Skipped`). */
  Degraded: "Degraded",
} as const;
export type State = (typeof State)[keyof typeof State];

/**
 * Keys the hook writes on namespaces. They are outputs, never inputs: a namespace selector that
 * names one is invalid, so what the hook writes can never change which namespaces are targeted.
 */
export const NAMESPACE_OUTPUT_KEYS: readonly string[] = [
  Label.state,
  Annotation.hosts,
  Annotation.status,
];

/** The keys whose presence makes an object a source. */
export const TARGETING_KEYS = [
  Annotation.replicateTo,
  Annotation.replicateToMatching,
  Annotation.replicateToAnnotated,
] as const;

/** Keys with a meaning on a source; any other key under PREFIX is reported as unknown. */
export const SOURCE_KEYS: ReadonlySet<string> = new Set([
  ...TARGETING_KEYS,
  Annotation.excludeNamespaces,
  Annotation.externalNameSuffix,
  Annotation.topLevelDomain,
  Annotation.hostTemplate,
  Annotation.tldSecretName,
  Annotation.stripLabels,
  Annotation.stripAnnotations,
  Annotation.keepOwnerReferences,
  // Harmless on a source: manifests are often copied from a namespace or a mirror.
  Annotation.replicatedFrom,
  Annotation.localBackends,
  Annotation.skip,
  Annotation.status,
  Annotation.hosts,
]);

/** The only Secret type that is mirrored (README, TLS Secret mirrors); every other is refused. */
export const TLS_SECRET_TYPE = "kubernetes.io/tls";
/** The only data keys a TLS Secret mirror carries. */
export const TLS_DATA_KEYS = ["tls.crt", "tls.key", "ca.crt"] as const;
/**
 * Label and annotation prefixes of cert-manager's bookkeeping on the Secrets it issues: on a mirror
 * they would claim the copy for a Certificate of that name in the branch, so no mirror has them.
 */
export const ISSUER_KEY_PREFIXES: readonly string[] = [
  "cert-manager.io/",
  "controller.cert-manager.io/",
];

export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY_VALUE = "kube-external-sync";

/** Set by Metacontroller on every attachment it manages. */
export const DECORATOR_ANNOTATION = "metacontroller.k8s.io/decorator-controller";

/**
 * Label and annotation keys never copied to a mirror (README, Labels and annotations never copied):
 * control keys, tracking keys of GitOps tools (which would prune or fight the mirror) and keys that
 * make cloud or DNS controllers act on a Service. Entries ending in "/" are prefixes.
 */
export const NEVER_COPIED: readonly string[] = [
  "kubectl.kubernetes.io/last-applied-configuration",
  PREFIX,
  "metacontroller.k8s.io/",
  "meta.helm.sh/",
  "helm.sh/chart",
  "argocd.argoproj.io/",
  "app.kubernetes.io/instance",
  "kustomize.toolkit.fluxcd.io/",
  "helm.toolkit.fluxcd.io/",
  "external-dns.alpha.kubernetes.io/",
  "service.beta.kubernetes.io/",
  "service.kubernetes.io/",
  "cloud.google.com/",
  MANAGED_BY_LABEL,
];

/** Reason codes in the namespace status annotation. */
export const Reason = {
  /** An object of the mirror's kind and name exists and is not ours, or another source won. */
  Conflict: "Conflict",
  /** The namespace's skip annotation names the object. */
  Skipped: "Skipped",
  /** A source's annotation is invalid: its existing mirrors are kept unchanged. */
  InvalidAnnotation: "InvalidAnnotation",
  /** An annotation that has no effect (unknown key, or v1's keep-owner-references). */
  IgnoredAnnotation: "IgnoredAnnotation",
  /** A host or name that would not be valid DNS: the rule or mirror is left out. */
  InvalidHost: "InvalidHost",
  /** Two mirrors serve the same host and path, or a mirror would serve a host a source serves. */
  HostCollision: "HostCollision",
  /** spec.defaultBackend of a source Ingress is not copied. */
  DefaultBackendDropped: "DefaultBackendDropped",
  /** The mirror's TLS secret is not copied: it must exist in the target namespace. */
  TLSSecretRequired: "TLSSecretRequired",
  /**
   * Part of the source is not copied as it is: list items that Metacontroller's apply would merge
   * into one (it merges lists of objects by `port` or `name`), so every later update would fail.
   */
  NotCopied: "NotCopied",
  /** A mirror needs a companion of a kind the DecoratorController does not declare. */
  KindNotDeclared: "KindNotDeclared",
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/**
 * Reasons that do not make a namespace `Degraded`: the namespace asked for them. They are still
 * listed in its status, so a person sees what is not mirrored there.
 */
export const REQUESTED_REASONS: ReadonlySet<Reason> = new Set([Reason.Skipped]);

/** Reasons listed under "skipped" in the status: the object was deliberately not mirrored. */
export const SKIP_REASONS: ReadonlySet<Reason> = new Set([Reason.Conflict, Reason.Skipped]);

/** At most this many entries in the status annotation; the rest are counted in "omitted". */
export const STATUS_ENTRY_LIMIT = 50;
/** Messages in the status are cut to one line of at most this many characters. */
export const STATUS_MESSAGE_LIMIT = 200;
/**
 * At most this many hosts in the hosts annotation, the first in sorted order: at most about 50 kB of
 * the 256 KiB Kubernetes allows for all of a namespace's annotations.
 */
export const HOSTS_LIMIT = 200;
