/**
 * Behaviour fixtures: one JSON file per behaviour row of docs/design.md, for every kind. Each file
 * is named after the behaviour it pins.
 *
 *   test/fixtures/sync/*.json       run through parseSyncRequest + computeSync
 *   test/fixtures/customize/*.json  run through parseCustomizeRequest + computeCustomize
 *
 * A fixture is one JSON document:
 *
 *   {
 *     "description": "the behaviour row it covers",
 *     "config": { ... },          // optional: a config document for parseConfig;
 *                                 // default {"sourceNamespaces": ["develop"]}
 *     "podNamespace": "...",      // optional: POD_NAMESPACE, the hook's own namespace
 *     "request": { ... },         // the complete request body exactly as Metacontroller sends it
 *     "expect": one of
 *       { "response": { ... } }   // the exact, complete hook response
 *       { "attachments": [ ... ], // sync only: the exact attachment list, in order,
 *         "labels": { ... },      //   the exact labels of the answer, and
 *         "annotations": { ... } }//   its exact annotations, with the value of
 *                                 //   kube-external-sync.io/status parsed (null when deleted)
 *       { "error": "..." }        // a substring of the RequestError message (a non-200 answer)
 *   }
 *
 * Every successful sync response is also checked against the hook contract (section 9): no
 * `status` key, and every attachment in the request's namespace with a declared apiVersion (an
 * attachment of a companion kind, such as a ReferenceGrant, may also be in a source namespace).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfig } from "../lib/config.ts";
import { Annotation } from "../lib/constants.ts";
import { computeCustomize, computeSync } from "../lib/engine.ts";
import { KINDS, splitApiVersion } from "../lib/kinds/index.ts";
import { parseCustomizeRequest, parseSyncRequest, RequestError } from "../lib/request.ts";
import type { SyncResponse } from "../lib/types.ts";

/** The suite fails when it finds fewer fixtures than this: a runner that finds nothing is broken. */
const MIN_FIXTURES = 40;
const ROOT = join(import.meta.dirname, "fixtures");
const DEFAULT_CONFIG = { sourceNamespaces: ["develop"] };

type Hook = "sync" | "customize";

interface Fixture {
  description: string;
  config?: unknown;
  podNamespace?: string;
  request: unknown;
  expect:
    | { response: unknown }
    | { attachments: unknown[]; labels: unknown; annotations: unknown }
    | { error: string };
}

function fixtureFiles(hook: Hook): string[] {
  let names: string[];
  try {
    names = readdirSync(join(ROOT, hook));
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith(".json")).sort();
}

function load(hook: Hook, file: string): Fixture {
  const fixture = JSON.parse(readFileSync(join(ROOT, hook, file), "utf8")) as Fixture;
  assert.equal(typeof fixture.description, "string", `${file}: description is required`);
  assert.ok(fixture.request !== undefined, `${file}: request is required`);
  assert.ok(fixture.expect !== undefined, `${file}: expect is required`);
  assert.ok(
    !("status" in fixture.expect),
    `${file}: expect.status is the old form; expect.labels and expect.annotations replace it`,
  );
  return fixture;
}

/** Runs the hook; a RequestError is returned, not thrown, so fixtures can expect it. */
function run(hook: Hook, fixture: Fixture): unknown {
  const config = parseConfig(fixture.config ?? DEFAULT_CONFIG, fixture.podNamespace);
  try {
    if (hook === "customize")
      return computeCustomize(parseCustomizeRequest(fixture.request), config);
    return computeSync(parseSyncRequest(fixture.request, config), config).response;
  } catch (e) {
    if (e instanceof RequestError) return e;
    throw e;
  }
}

interface Obj {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { namespace?: unknown };
}

/** Companions may live in a source namespace (a ReferenceGrant). */
function isCompanion(a: Obj): boolean {
  const { group } = splitApiVersion(String(a.apiVersion));
  return KINDS.some((k) => k.role === "companion" && k.group === group && k.kind === a.kind);
}

/** Section 9: never `status`; every attachment in the parent namespace, at a declared version. */
function checkSyncContract(
  request: unknown,
  response: Record<string, unknown>,
  sourceNamespaces: readonly string[],
): void {
  assert.ok(!Object.hasOwn(response, "status"), "a sync response must never carry status");
  const req = request as {
    object?: { metadata?: { name?: string } };
    parent?: { metadata?: { name?: string } };
    controller?: { spec?: { attachments?: { apiVersion: string; resource: string }[] } };
  };
  const namespace = (req.object ?? req.parent)?.metadata?.name;
  const declared = new Set((req.controller?.spec?.attachments ?? []).map((a) => a.apiVersion));
  const attachments = response.attachments as Obj[];
  assert.ok(Array.isArray(attachments), "attachments must be a list");
  for (const a of attachments) {
    if (isCompanion(a)) {
      assert.ok(
        [namespace, ...sourceNamespaces].includes(String(a.metadata?.namespace)),
        "a companion attachment is in the parent namespace or a source namespace",
      );
    } else {
      assert.equal(a.metadata?.namespace, namespace, "every attachment sets metadata.namespace");
    }
    assert.ok(
      declared.has(String(a.apiVersion)),
      `attachment apiVersion ${String(a.apiVersion)} is not declared by the controller`,
    );
  }
}

function check(hook: Hook, file: string): void {
  const fixture = load(hook, file);
  const expect = fixture.expect;
  const result = run(hook, fixture);

  if ("error" in expect) {
    assert.ok(result instanceof RequestError, `expected a RequestError, got a ${typeof result}`);
    assert.ok(
      result.message.includes(expect.error),
      `error message ${JSON.stringify(result.message)} does not contain ${JSON.stringify(expect.error)}`,
    );
    return;
  }
  if (result instanceof RequestError) assert.fail(`unexpected RequestError: ${result.message}`);

  if (hook === "sync") {
    const { sourceNamespaces } = parseConfig(fixture.config ?? DEFAULT_CONFIG);
    checkSyncContract(fixture.request, result as Record<string, unknown>, sourceNamespaces);
  }

  if ("response" in expect) {
    assert.deepStrictEqual(result, expect.response);
    return;
  }
  assert.equal(hook, "sync", "the attachments/labels/annotations form is for sync fixtures");
  const response = result as SyncResponse;
  assert.deepStrictEqual(response.attachments, expect.attachments);
  assert.deepStrictEqual(response.labels, expect.labels);
  assert.deepStrictEqual(readableAnnotations(response.annotations), expect.annotations);
}

/** The answer's annotations with the status annotation's JSON parsed, as fixtures spell it. */
function readableAnnotations(annotations: SyncResponse["annotations"]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(annotations)) {
    out[key] = key === Annotation.status && typeof value === "string" ? JSON.parse(value) : value;
  }
  return out;
}

const hooks: Hook[] = ["sync", "customize"];

test("fixture directories hold the behaviour fixtures", () => {
  const counts = hooks.map((h) => fixtureFiles(h).length);
  for (const [i, h] of hooks.entries()) {
    assert.ok((counts[i] ?? 0) > 0, `no fixtures in test/fixtures/${h}`);
  }
  const total = counts.reduce((a, b) => a + b, 0);
  assert.ok(total >= MIN_FIXTURES, `found ${total} fixtures, expected at least ${MIN_FIXTURES}`);
});

for (const hook of hooks) {
  for (const file of fixtureFiles(hook)) {
    test(`${hook}/${file}`, () => check(hook, file));
  }
}
