// lib/branch.ts takes, for TLS Secrets, the same decisions as the engine (so that Ingress and route
// mirrors know which TLS Secrets the answer mirrors before it is complete). These tests hold it to
// the engine's answers: on every sync fixture, and on generated namespaces with Secrets of every
// type, valid and invalid annotations, two source namespaces, skips, our mirrors and unmanaged
// Secrets.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { parseSkipList } from "../lib/annotations.ts";
import { branchFacts } from "../lib/branch.ts";
import { parseConfig } from "../lib/config.ts";
import { computeSync } from "../lib/engine.ts";
import { parseSyncRequest } from "../lib/request.ts";
import type { KubeObject } from "../lib/types.ts";
import {
  ATTACHMENTS,
  applied,
  controller,
  namespace,
  REPLICATE_TO,
  REPLICATED_FROM,
  SKIP,
  secret,
  syncRequest,
} from "./support/builders.ts";

/** The TLS Secrets the engine's answer puts in the namespace, against branch.ts's prediction. */
function check(request: unknown, configDoc: unknown): void {
  const config = parseConfig(configDoc);
  const req = parseSyncRequest(request, config);
  const target = req.namespace.metadata.name;
  const response = computeSync(req, config).response;
  const answered = response.attachments
    .filter((a) => a.kind === "Secret" && a.metadata.namespace === target)
    .map((a) => a.metadata.name)
    .sort();
  const { skip } = parseSkipList(
    req.namespace.metadata.annotations?.[SKIP],
    req.kinds.map((k) => k.module.kind),
  );
  const predicted = [...branchFacts(req, config, skip).mirroredTLSSecrets].sort();
  assert.deepEqual(predicted, answered);
}

test("on every sync fixture, the TLS Secrets branch.ts predicts are those the engine mirrors", () => {
  const dir = join(import.meta.dirname, "fixtures", "sync");
  let withSecrets = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    const fixture = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
      config?: unknown;
      request: { controller?: { spec?: { attachments?: { resource: string }[] } } };
      expect: Record<string, unknown>;
    };
    if ("error" in fixture.expect) continue;
    const declared = fixture.request.controller?.spec?.attachments ?? [];
    if (declared.some((a) => a.resource === "secrets")) withSecrets++;
    check(fixture.request, fixture.config ?? { sourceNamespaces: ["develop"] });
  }
  assert.ok(withSecrets >= 5, `only ${withSecrets} fixtures declare Secrets`);
});

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

const ANNOTATIONS: Record<SecretGen["annotation"], Record<string, string>> = {
  valid: { [REPLICATE_TO]: "feature-.*" },
  invalid: { [REPLICATE_TO]: "feature-(" },
  "other-target": { [REPLICATE_TO]: "qa" },
  none: {},
};

test("on generated namespaces, the TLS Secrets branch.ts predicts are those the engine mirrors", () => {
  fc.assert(
    fc.property(gen, (g) => {
      const parent = namespace("feature-x", {
        annotations:
          g.skipped.length > 0 ? { [SKIP]: g.skipped.map((n) => `Secret/${n}`).join(",") } : {},
      });
      const others: KubeObject[] = [];
      const taken = new Set<string>();
      for (const s of g.secrets) {
        const ns = SOURCES[s.ns] as string;
        if (taken.has(`${ns}/${s.name}`)) continue;
        taken.add(`${ns}/${s.name}`);
        others.push(
          secret(
            ns,
            s.name,
            s.type,
            // An incomplete TLS Secret is refused (the API server would refuse its mirror).
            s.complete ? { "tls.crt": "Y3J0", "tls.key": "a2V5" } : { "tls.crt": "Y3J0" },
            {
              annotations: ANNOTATIONS[s.annotation],
            },
          ),
        );
      }
      const ours: KubeObject[] = [];
      const inTarget = new Set<string>();
      for (const o of g.ours) {
        if (inTarget.has(o.name)) continue;
        inTarget.add(o.name);
        ours.push(
          applied(
            secret(
              "feature-x",
              o.name,
              "kubernetes.io/tls",
              { "tls.crt": "Y3J0", "tls.key": "a2V5" },
              {
                labels: { "app.kubernetes.io/managed-by": "kube-external-sync" },
                annotations: { [REPLICATED_FROM]: `${SOURCES[o.from]}/${o.name}` },
              },
            ),
            parent,
          ),
        );
      }
      for (const name of g.unmanaged) {
        if (!inTarget.has(name)) others.push(secret("feature-x", name, "Opaque", { x: "eA==" }));
      }
      check(
        syncRequest({
          controller: controller([
            ATTACHMENTS.services,
            ATTACHMENTS.ingresses,
            ATTACHMENTS.secrets,
          ]),
          namespace: parent,
          related: [...others, ...ours],
          attachments: ours,
        }),
        { sourceNamespaces: SOURCES },
      );
    }),
    { numRuns: 300 },
  );
});
