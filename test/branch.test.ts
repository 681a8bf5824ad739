// lib/branch.ts and the engine's Secrets-first decisions, held to the behaviour they exist for: an
// Ingress mirror reports TLSSecretRequired for a TLS Secret it names exactly when the answer
// mirrors no Secret of that name into the namespace and the branch holds none of its own. Checked
// on generated namespaces with Secrets of every type, valid and invalid annotations, two source
// namespaces, skips, our mirrors and unmanaged Secrets.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseConfig } from "../lib/config.ts";
import { Reason } from "../lib/constants.ts";
import { computeSync, type SyncOutcome } from "../lib/engine.ts";
import { parseSyncRequest } from "../lib/request.ts";
import type { KubeObject } from "../lib/types.ts";
import {
  ATTACHMENTS,
  applied,
  controller,
  ingress,
  namespace,
  REPLICATE_TO,
  REPLICATED_FROM,
  SKIP,
  secret,
  syncRequest,
  toFeatures,
} from "./support/builders.ts";

const SOURCES = ["develop", "staging"];
const NAMES = ["wildcard-tls", "api-tls", "db"];
const TYPES = ["kubernetes.io/tls", "Opaque", "kubernetes.io/basic-auth"];

interface SecretGen {
  ns: number;
  complete: boolean;
  name: string;
  type: string;
  annotation: "valid" | "invalid" | "other-target" | "none";
}

const gen = fc.record({
  secrets: fc.array(
    fc.record({
      ns: fc.integer({ min: 0, max: 1 }),
      name: fc.constantFrom(...NAMES),
      type: fc.constantFrom(...TYPES),
      complete: fc.boolean(),
      annotation: fc.constantFrom(
        "valid" as const,
        "invalid" as const,
        "other-target" as const,
        "none" as const,
      ),
    }),
    { maxLength: 6 },
  ),
  skipped: fc.subarray(NAMES),
  /** Our existing mirrors: name and the source namespace they say they come from. */
  ours: fc.array(
    fc.record({ name: fc.constantFrom(...NAMES), from: fc.integer({ min: 0, max: 1 }) }),
    {
      maxLength: 3,
    },
  ),
  unmanaged: fc.subarray(NAMES),
});
type Generated = typeof gen extends fc.Arbitrary<infer T> ? T : never;

/** An Ingress source naming each of NAMES as the TLS Secret of one of its hosts. */
const SHOP = ingress("shop", {
  annotations: toFeatures,
  hosts: NAMES.map((name) => `${name}.develop.example.com`),
  tls: NAMES.map((name) => ({ hosts: [`${name}.develop.example.com`], secretName: name })),
});

const ANNOTATIONS: Record<SecretGen["annotation"], Record<string, string>> = {
  valid: { [REPLICATE_TO]: "feature-.*" },
  invalid: { [REPLICATE_TO]: "feature-(" },
  "other-target": { [REPLICATE_TO]: "qa" },
  none: {},
};

/** The generated namespace as a sync request, and the names of the branch's own Secrets. */
function generatedRequest(g: Generated): { request: unknown; own: string[] } {
  const parent = namespace("feature-x", {
    annotations:
      g.skipped.length > 0 ? { [SKIP]: g.skipped.map((n) => `Secret/${n}`).join(",") } : {},
  });
  const sources = new Map<string, KubeObject>();
  for (const s of g.secrets) {
    const ns = SOURCES[s.ns] as string;
    // An incomplete TLS Secret is refused (the API server would refuse its mirror).
    const data: Record<string, string> = s.complete
      ? { "tls.crt": "Y3J0", "tls.key": "a2V5" }
      : { "tls.crt": "Y3J0" };
    if (!sources.has(`${ns}/${s.name}`))
      sources.set(
        `${ns}/${s.name}`,
        secret(ns, s.name, s.type, data, { annotations: ANNOTATIONS[s.annotation] }),
      );
  }
  const ours = new Map<string, KubeObject>();
  for (const o of g.ours) {
    const mirror = secret(
      "feature-x",
      o.name,
      "kubernetes.io/tls",
      { "tls.crt": "Y3J0", "tls.key": "a2V5" },
      {
        labels: { "app.kubernetes.io/managed-by": "kube-external-sync" },
        annotations: { [REPLICATED_FROM]: `${SOURCES[o.from]}/${o.name}` },
      },
    );
    if (!ours.has(o.name)) ours.set(o.name, applied(mirror, parent));
  }
  const own = g.unmanaged.filter((name) => !ours.has(name));
  const owned = own.map((name) => secret("feature-x", name, "Opaque", { x: "eA==" }));
  const request = syncRequest({
    controller: controller([ATTACHMENTS.services, ATTACHMENTS.ingresses, ATTACHMENTS.secrets]),
    namespace: parent,
    related: [...sources.values(), ...owned, ...ours.values(), SHOP],
    attachments: [...ours.values()],
  });
  return { request, own };
}

/** Names of the Secrets the answer mirrors, and of those TLSSecretRequired names. */
function secretsOf(outcome: SyncOutcome): { mirrored: Set<string>; hinted: Set<string> } {
  const status = outcome.status ?? { skipped: [], invalid: [], omitted: 0 };
  assert.equal(status.omitted, 0, "every status line is listed");
  return {
    mirrored: new Set(
      outcome.response.attachments
        .filter((a) => a.kind === "Secret" && a.metadata.namespace === "feature-x")
        .map((a) => a.metadata.name),
    ),
    hinted: new Set(
      [...status.skipped, ...status.invalid]
        .filter((entry) => entry.reason === Reason.TLSSecretRequired)
        .map((entry) => /TLS secret "([^"]+)"/.exec(entry.message)?.[1] ?? ""),
    ),
  };
}

test("TLSSecretRequired names exactly the TLS Secrets neither mirrored by the answer nor the branch's own", () => {
  const config = parseConfig({ sourceNamespaces: SOURCES });
  fc.assert(
    fc.property(gen, (g) => {
      const { request, own } = generatedRequest(g);
      const { mirrored, hinted } = secretsOf(
        computeSync(parseSyncRequest(request, config), config),
      );
      for (const name of NAMES) {
        const present = mirrored.has(name) || own.includes(name);
        assert.equal(
          hinted.has(name),
          !present,
          `${name}: mirrored ${mirrored.has(name)}, own ${own.includes(name)}`,
        );
      }
    }),
    { numRuns: 300 },
  );
});
