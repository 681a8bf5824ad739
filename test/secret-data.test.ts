// Secret data never appears in a log line, the namespace status, a metric or an error message
// (README, TLS Secret mirrors). The hook server runs in process with its logger at trace level,
// every line captured; the requests carry Secrets whose data holds a recognisable value, in every
// role: a mirrored TLS Secret, refused types, an invalid source, an unmanaged Secret in the target,
// a malformed request and a body that is not JSON. Only the TLS mirror in the answer may carry it.

import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { createApp } from "../hooks/app.ts";
import { parseConfig } from "../lib/config.ts";
import {
  ATTACHMENTS,
  assertNoSecretData,
  controller,
  namespace,
  REPLICATE_TO,
  STATUS,
  secret,
  secretMarker,
  syncRequest,
  toFeatures,
} from "./support/builders.ts";
import { listenOnLoopback } from "./support/net.ts";

/** The recognisable key material, and every form it could leak in. */
const MARKER_VALUE = secretMarker("hook");
const MARKER = MARKER_VALUE.plain;
const ENCODED = MARKER_VALUE.encoded;

function assertNoSecret(text: string, where: string): void {
  assertNoSecretData(text, where, MARKER_VALUE);
}

const parent = namespace("feature-login");
const tlsData = { "tls.crt": "Y2VydGlmaWNhdGU=", "tls.key": ENCODED };
const SECRETS = [
  secret(
    "develop",
    "wildcard-tls",
    "kubernetes.io/tls",
    { ...tlsData, "extra.key": ENCODED },
    {
      annotations: toFeatures,
    },
  ),
  secret("develop", "db-password", "Opaque", { password: ENCODED }, { annotations: toFeatures }),
  secret("develop", "broken-tls", "kubernetes.io/tls", tlsData, {
    annotations: { [REPLICATE_TO]: "feature-(" },
  }),
  secret("develop", "taken-tls", "kubernetes.io/tls", tlsData, { annotations: toFeatures }),
  secret("feature-login", "taken-tls", "kubernetes.io/tls", tlsData),
  secret("feature-login", "branch-own", "Opaque", { token: ENCODED }),
];
const ATTACH = [ATTACHMENTS.services, ATTACHMENTS.ingresses, ATTACHMENTS.secrets];

let logged = "";
let port = 0;
let close: () => Promise<void> = async () => {};

before(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logged += String(chunk);
      done();
    },
  });
  const { app } = createApp({
    config: parseConfig({ sourceNamespaces: ["develop"] }),
    logger: pino({ level: "trace" }, sink),
    bodyLimit: "1mb",
    maxConcurrent: 4,
  });
  ({ port, close } = await listenOnLoopback(app));
});
after(() => close());

async function post(path: string, body: string): Promise<{ status: number; text: string }> {
  const reply = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  return { status: reply.status, text: await reply.text() };
}

test("sync: the TLS mirror carries the data; the status, the logs and the metrics never do", async () => {
  const reply = await post(
    "/sync",
    JSON.stringify(
      syncRequest({ controller: controller(ATTACH), namespace: parent, related: SECRETS }),
    ),
  );
  assert.equal(reply.status, 200, reply.text);
  const answer = JSON.parse(reply.text) as {
    annotations: Record<string, string>;
    attachments: { kind: string; metadata: { name: string }; data?: Record<string, string> }[];
  };
  // The data goes exactly where it belongs: the one TLS mirror, under tls.key.
  assert.deepEqual(
    answer.attachments.map((a) => `${a.kind}/${a.metadata.name}`),
    ["Secret/wildcard-tls"],
  );
  assert.equal(answer.attachments[0]?.data?.["tls.key"], ENCODED);
  assert.deepEqual(Object.keys(answer.attachments[0]?.data ?? {}), ["tls.crt", "tls.key"]);

  const status = answer.annotations[STATUS] ?? "";
  // Every role was reported, and none with the data.
  for (const expected of ["NotCopied", "InvalidAnnotation", "Conflict", "extra.key"]) {
    assert.ok(status.includes(expected), `status lacks ${expected}: ${status}`);
  }
  assertNoSecret(status, "the status annotation");
  assertNoSecret(
    JSON.stringify(answer.attachments.filter((a) => a.kind !== "Secret")),
    "other mirrors",
  );

  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  assert.match(metrics, /kube_external_sync_mirrors_desired\{kind="Secret"\} 1/);
  assertNoSecret(metrics, "the metrics");
});

test("bad requests: the error messages never quote Secret data", async () => {
  // A request that is not understood: a Secret without a name, its data beside it.
  const bad = syncRequest({
    controller: controller(ATTACH),
    namespace: parent,
    related: SECRETS,
  }) as {
    related: Record<string, Record<string, { metadata: { name?: string } }>>;
  };
  const broken = bad.related["Secret.v1"]?.["develop/db-password"];
  assert.ok(broken);
  delete broken.metadata.name;
  const invalid = await post("/sync", JSON.stringify(bad));
  assert.equal(invalid.status, 400, invalid.text);
  assertNoSecret(invalid.text, "the 400 answer to an invalid request");

  // Bodies that are not JSON, broken right at the data.
  for (const body of [
    `{"related": {"Secret.v1": {"develop/x": {"data": {"tls.key": "${ENCODED}`,
    `{"related": {"Secret.v1": {"develop/x": {"data": {"tls.key": ${MARKER}}}}}}`,
    `{"data": "${ENCODED}" "${MARKER}"}`,
  ]) {
    const reply = await post("/sync", body);
    assert.equal(reply.status, 400, reply.text);
    assert.match(reply.text, /not valid JSON/);
    assertNoSecret(reply.text, "the 400 answer to a body that is not JSON");
  }
});

test("customize and every log line so far: no Secret data", async () => {
  const reply = await post(
    "/customize",
    JSON.stringify({ controller: controller(ATTACH), parent }),
  );
  assert.equal(reply.status, 200, reply.text);
  assert.ok(logged.split("\n").filter(Boolean).length >= 5, "the requests were logged");
  assertNoSecret(logged, "the logs");
});
