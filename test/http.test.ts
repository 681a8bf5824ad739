// HTTP-level tests of the hook server, always against a real listener on loopback: in-process
// through createApp() for most cases, and the real entry point (`node hooks/server.ts`) as a child
// process for start-up validation and SIGTERM shutdown. See docs/design.md#non-intrusion-and-fail-static,
// docs/design.md#hook-contract and docs/design.md#configuration.
//
// The invariant behind most cases here: a hook never answers 200 unless it computed the complete
// desired state, since Metacontroller deletes every mirror a 200 leaves out.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import express from "express";
import { pino } from "pino";
import { buildRequest } from "../bench/workload.ts";
import { type AppOptions, createApp } from "../hooks/app.ts";
import { jsonBody, releasePiece, sendJson } from "../hooks/body.ts";
import { STAGES } from "../hooks/stages.ts";
import { parseConfig } from "../lib/config.ts";
import { computeSync } from "../lib/engine.ts";
import { PIECE_CHARS } from "../lib/json-pieces.ts";
import { parseSyncRequest } from "../lib/request.ts";
import {
  freePort,
  listenOnLoopback,
  postJson,
  type Reply,
  request,
  type ServerProcess,
  startRequest,
  startServerProcess,
  waitReady,
  within,
} from "./support/net.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE_CONFIG = join(ROOT, "examples/config.yaml");
const SYNC_TEXT = readFileSync(join(ROOT, "examples/sync-request.json"), "utf8");
const CUSTOMIZE_TEXT = readFileSync(join(ROOT, "examples/customize-request.json"), "utf8");
/** The example config, as examples/config.yaml holds it. */
const CONFIG = parseConfig({
  sourceNamespaces: ["develop"],
  excludeNamespaces: ["kube-system", "kube-public", "kube-node-lease", "metacontroller"],
  externalNameSuffix: "svc.cluster.local",
  defaultTopLevelDomain: "*.example.com",
  sourceSelector: "",
});
const STATUS_ANNOTATION = "kube-external-sync.io/status";
const HOSTS_ANNOTATION = "kube-external-sync.io/hosts";
const STATE_LABEL = "kube-external-sync.io/state";

type Json = Record<string, unknown>;
const syncRequest = (): Json => JSON.parse(SYNC_TEXT) as Json;
const customizeRequest = (): Json => JSON.parse(CUSTOMIZE_TEXT) as Json;

/** The example sync request, grown past 10 kB by a kubectl last-applied annotation of 12 kB. */
const BIG_SYNC_TEXT = (() => {
  const req = syncRequest();
  const services = (req.related as Record<string, Record<string, Json>>)["Service.v1"] ?? {};
  const meta = (services["develop/postgres"] as Json).metadata as Json;
  meta.annotations = {
    ...(meta.annotations as Record<string, string>),
    "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({ pad: "x".repeat(12_000) }),
  };
  return JSON.stringify(req);
})();

/**
 * Starts POST /sync with the example body and sends only its first half; `finish` sends the rest.
 * Holds a request in progress, for the 429 and shutdown tests.
 */
function halfSentSync(
  port: number,
  agent: http.Agent | false,
): { reply: Promise<Reply>; finish: () => void } {
  const body = Buffer.from(SYNC_TEXT);
  const half = Math.floor(body.length / 2);
  const { req, reply } = startRequest(port, "/sync", {
    method: "POST",
    agent,
    body,
    headers: { "content-type": "application/json" },
  });
  req.flushHeaders();
  req.write(body.subarray(0, half));
  return { reply, finish: () => req.end(body.subarray(half)) };
}

interface Running {
  port: number;
  setReady(ready: boolean): void;
  close(): Promise<void>;
}

/** createApp() listening on 127.0.0.1, port 0. */
async function startApp(overrides: Partial<AppOptions> = {}): Promise<Running> {
  const { app, setReady } = createApp({
    config: CONFIG,
    logger: pino({ level: "silent" }),
    bodyLimit: "32mb",
    maxConcurrent: 16,
    ...overrides,
  });
  const { port, close } = await listenOnLoopback(app);
  return { port, setReady, close };
}

function assertPlainError(reply: Reply, status: number, pattern?: RegExp): void {
  assert.equal(reply.status, status, `expected ${status}, got ${reply.status}: ${reply.text}`);
  assert.notEqual(reply.status, 200);
  assert.match(String(reply.headers["content-type"]), /^text\/plain/);
  assert.ok(reply.headers["x-request-id"], "X-Request-Id header missing");
  if (pattern) assert.match(reply.text, pattern);
}

function assertJson(reply: Reply): Json {
  assert.equal(reply.status, 200, `expected 200, got ${reply.status}: ${reply.text}`);
  assert.match(String(reply.headers["content-type"]), /^application\/json/);
  assert.ok(reply.headers["x-request-id"], "X-Request-Id header missing");
  return JSON.parse(reply.text) as Json;
}

describe("hook server in-process (createApp on loopback)", () => {
  let srv: Running;
  before(async () => {
    srv = await startApp();
  });
  after(() => srv.close());

  test("POST /sync with the example answers 200 with 4 mirrors and nothing to write on the namespace", async () => {
    const body = assertJson(await postJson(srv.port, "/sync", SYNC_TEXT));
    const attachments = body.attachments as Json[];
    assert.equal(attachments.length, 4);
    const names = attachments.map((a) => {
      const meta = a.metadata as { name: string; namespace: string };
      assert.equal(meta.namespace, "feature-login");
      return `${a.kind}/${meta.name}`;
    });
    assert.deepEqual(names.toSorted(), [
      "Ingress/example",
      "Service/example-api",
      "Service/example-web",
      "Service/postgres",
    ]);
    // A new namespace with nothing to report: no state until the mirrors are observed, no status.
    assert.deepEqual(body.labels, { [STATE_LABEL]: null });
    assert.deepEqual(body.annotations, { [HOSTS_ANNOTATION]: null, [STATUS_ANNOTATION]: null });
    assert.equal("status" in body, false, "a DecoratorController must never return status");
  });

  test("the answer is deterministic: identical requests get byte-identical answers", async () => {
    const a = await postJson(srv.port, "/sync", SYNC_TEXT);
    const b = await postJson(srv.port, "/sync", SYNC_TEXT);
    assert.equal(a.status, 200);
    assert.equal(a.text, b.text);
  });

  test("hook version v2 shape (parent/children) gives the same answer as v1", async () => {
    const v1 = await postJson(srv.port, "/sync", SYNC_TEXT);
    const { object, attachments, ...rest } = syncRequest();
    const v2 = await postJson(srv.port, "/sync", {
      ...rest,
      parent: object,
      children: attachments,
    });
    assertJson(v2);
    assert.equal(v2.text, v1.text);
  });

  test("POST /customize with the example returns relatedResources", async () => {
    const body = assertJson(await postJson(srv.port, "/customize", CUSTOMIZE_TEXT));
    const rules = body.relatedResources as Json[];
    assert.ok(Array.isArray(rules) && rules.length > 0);
    for (const rule of rules) {
      assert.equal(typeof rule.apiVersion, "string");
      assert.ok(rule.resource === "services" || rule.resource === "ingresses");
    }
    assert.ok(rules.some((r) => r.namespace === "develop"));
  });

  test("a v1 Content-Type with charset is accepted", async () => {
    const reply = await postJson(srv.port, "/sync", SYNC_TEXT, {
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    assertJson(reply);
  });

  test("/healthz answers 200", async () => {
    const reply = await request(srv.port, "/healthz");
    assert.equal(reply.status, 200);
    assert.ok(reply.headers["x-request-id"]);
  });

  test("malformed JSON is 400", async () => {
    assertPlainError(await postJson(srv.port, "/sync", '{"controller": {'), 400, /not valid JSON/);
    assertPlainError(await postJson(srv.port, "/customize", "{nope}"), 400, /not valid JSON/);
  });

  test("a large answer is streamed, byte for byte the engine's answer as JSON", async () => {
    const text = buildRequest(300).body;
    const expected = JSON.stringify(
      computeSync(parseSyncRequest(JSON.parse(text), CONFIG), CONFIG).response,
    );
    assert.ok(expected.length > 2 * PIECE_CHARS, "the answer takes several pieces");
    const reply = await postJson(srv.port, "/sync", text);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers["transfer-encoding"], "chunked");
    assert.equal(reply.text, expected);
  });

  test("a small answer is sent with its length", async () => {
    const reply = await postJson(srv.port, "/customize", CUSTOMIZE_TEXT);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers["content-length"], String(Buffer.byteLength(reply.text)));
  });

  test("a JSON error is placed in the body as sent, though unread fields are left out", async () => {
    const text =
      '{"object":{"status":{"phase":"Active"},"metadata":{"name":"a"} "kind":"Namespace"}}';
    const reply = await postJson(srv.port, "/sync", text);
    assertPlainError(reply, 400, /not valid JSON \(at byte 63\)/);
    assert.equal(text[63], '"');
  });

  test("a compressed body is 415 naming the encoding", async () => {
    const reply = await postJson(srv.port, "/sync", SYNC_TEXT, {
      headers: { "content-encoding": "gzip" },
    });
    assertPlainError(reply, 415, /Content-Encoding "gzip"/);
  });

  test("a JSON body that is not an object is 400", async () => {
    assertPlainError(await postJson(srv.port, "/sync", "[]"), 400);
    assertPlainError(await postJson(srv.port, "/sync", "null"), 400);
    assertPlainError(await postJson(srv.port, "/sync", ""), 400);
  });

  test("a wrong Content-Type is 415", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/yaml"]) {
      const reply = await request(srv.port, "/sync", {
        method: "POST",
        body: SYNC_TEXT,
        headers: { "content-type": type },
      });
      assertPlainError(reply, 415, /JSON/);
    }
    assertPlainError(await request(srv.port, "/customize", { method: "POST", body: "{}" }), 415);
  });

  test("an unsupported charset is 415", async () => {
    const reply = await postJson(srv.port, "/sync", SYNC_TEXT, {
      headers: { "content-type": "application/json; charset=latin-9" },
    });
    assertPlainError(reply, 415);
  });

  test("a request without the namespace is 400 naming it", async () => {
    const { object: _object, ...v1 } = syncRequest();
    const reply = await postJson(srv.port, "/sync", v1);
    assertPlainError(reply, 400, /invalid hook request/);
    assert.match(reply.text, /request\.(object|parent)\b/);
  });

  test("a v1 request without `object` is told `object` is missing (not `parent`)", {}, async () => {
    const { object: _object, ...v1 } = syncRequest();
    const reply = await postJson(srv.port, "/sync", v1);
    assertPlainError(reply, 400, /request\.object\b/);
  });

  test("a request without controller.metadata.name is 400 naming it", async () => {
    const req = syncRequest();
    delete ((req.controller as Json).metadata as Json).name;
    assertPlainError(
      await postJson(srv.port, "/sync", req),
      400,
      /request\.controller\.metadata\.name/,
    );
    assertPlainError(
      await postJson(srv.port, "/customize", { ...customizeRequest(), controller: undefined }),
      400,
      /request\.controller\b/,
    );
  });

  test("a request without controller is 400 naming it", async () => {
    const { controller: _c, ...rest } = syncRequest();
    assertPlainError(await postJson(srv.port, "/sync", rest), 400, /request\.controller\b/);
  });

  test("a parent that is not a v1 Namespace is 400", async () => {
    const req = syncRequest();
    (req.object as Json).kind = "ConfigMap";
    assertPlainError(await postJson(srv.port, "/sync", req), 400, /request\.object.*Namespace/);
  });

  test("an object without metadata.name in related is 400", async () => {
    const req = syncRequest();
    const services = (req.related as Record<string, Record<string, Json>>)["Service.v1"];
    assert.ok(services);
    const svc = services["develop/example-api"] as Json;
    delete (svc.metadata as Json).name;
    assertPlainError(await postJson(srv.port, "/sync", req), 400, /metadata\.name/);
  });

  test("an unsupported attachment kind in controller.spec.attachments is 400", async () => {
    for (const path of ["/sync", "/customize"]) {
      const req = path === "/sync" ? syncRequest() : customizeRequest();
      const spec = (req.controller as Json).spec as Json;
      spec.attachments = [
        ...(spec.attachments as Json[]),
        { apiVersion: "apps/v1", resource: "deployments" },
      ];
      const reply = await postJson(srv.port, path, req);
      assertPlainError(reply, 400, /controller\.spec\.attachments\[2\]/);
      assert.match(reply.text, /apps\/v1 deployments/);
    }
  });

  test("an unsupported version of a known kind is 400", async () => {
    const req = syncRequest();
    const spec = (req.controller as Json).spec as Json;
    spec.attachments = [{ apiVersion: "networking.k8s.io/v1beta1", resource: "ingresses" }];
    assertPlainError(await postJson(srv.port, "/sync", req), 400, /attachments\[0\]/);
  });

  test("unknown routes and methods are 404", async () => {
    assertPlainError(await request(srv.port, "/nope"), 404, /no route/);
    assertPlainError(await request(srv.port, "/sync"), 404);
    assertPlainError(await postJson(srv.port, "/finalize", SYNC_TEXT), 404);
  });

  test("/metrics exposes request counts, durations, stages and mirrors, no names", async () => {
    // Its own server and registry, so counts from other tests do not interfere.
    const own = await startApp({ syncEngine: undefined });
    try {
      assertJson(await postJson(own.port, "/sync", SYNC_TEXT));
      // The stages of the answered request, which add up to its duration.
      const first = (await request(own.port, "/metrics")).text;
      const sumOf = (series: string) =>
        Number(new RegExp(`^${series} (\\S+)$`, "m").exec(first)?.[1] ?? Number.NaN);
      let stages = 0;
      for (const stage of STAGES) {
        const labels = `\\{hook="sync",stage="${stage}"\\}`;
        assert.match(
          first,
          new RegExp(`^kube_external_sync_hook_stage_seconds_count${labels} 1$`, "m"),
        );
        stages += sumOf(`kube_external_sync_hook_stage_seconds_sum${labels}`);
      }
      const duration = sumOf('kube_external_sync_hook_duration_seconds_sum\\{hook="sync"\\}');
      assert.ok(Math.abs(stages - duration) < 1e-6, `stages ${stages} s, duration ${duration} s`);
      assertPlainError(await postJson(own.port, "/sync", "{"), 400);
      const reply = await request(own.port, "/metrics");
      assert.equal(reply.status, 200);
      assert.match(String(reply.headers["content-type"]), /^text\/plain/);
      const text = reply.text;
      assert.match(
        text,
        /^kube_external_sync_hook_requests_total\{hook="sync",code="200"\} 1$/m,
        text,
      );
      assert.match(text, /^kube_external_sync_hook_requests_total\{hook="sync",code="400"\} 1$/m);
      assert.match(text, /^kube_external_sync_hook_duration_seconds_bucket\{[^}]*hook="sync"/m);
      assert.match(text, /^kube_external_sync_hook_duration_seconds_count\{hook="sync"\} 2$/m);
      // Only answers with the complete desired state (200) are timed by stage.
      assert.match(
        text,
        /^kube_external_sync_hook_stage_seconds_count\{hook="sync",stage="answer"\} 1$/m,
      );
      assert.match(text, /^kube_external_sync_mirrors_desired\{kind="Service"\} 3$/m);
      assert.match(text, /^kube_external_sync_mirrors_desired\{kind="Ingress"\} 1$/m);
      assert.match(text, /^kube_external_sync_conflicts 0$/m);
      assert.match(text, /^kube_external_sync_invalid_sources 0$/m);
      for (const name of ["feature-login", "example-api", "example-web", "postgres"])
        assert.equal(text.includes(name), false, `/metrics mentions ${name}`);
      // Probes are not counted as hook requests.
      assert.equal(/hook="(healthz|readyz|metrics)"/.test(text), false);
    } finally {
      await own.close();
    }
  });
});

describe("an answer in pieces", () => {
  test("is built no further once the client goes away", async () => {
    // 20,000 items of 1 kB: far more than the socket's buffers take before the writer waits.
    const ITEMS = 20_000;
    let built = 0;
    const item = {
      toJSON() {
        built++;
        return { pad: "x".repeat(1000) };
      },
    };
    const closed = Promise.withResolvers<void>();
    const app = express();
    app.get("/answer", (_req, res) => {
      res.on("close", () => closed.resolve());
      sendJson(res, { attachments: Array.from({ length: ITEMS }, () => item) });
    });
    const { port, close } = await listenOnLoopback(app);
    try {
      // The client reads the first bytes of the answer, then goes away.
      const req = http.get({ host: "127.0.0.1", port, path: "/answer" }, (res) =>
        res.once("data", () => req.destroy()),
      );
      req.on("error", () => {});
      await within(closed.promise, 5000, "the server saw the client go");
      const atClose = built;
      // Another request on a new connection: by its answer the writer had every chance to go on.
      assert.equal((await request(port, "/other")).status, 404);
      assert.ok(atClose < ITEMS, `all ${ITEMS} items were built`);
      assert.equal(built, atClose, "items were built after the client went away");
    } finally {
      await close();
    }
  });
});

describe("a request body read in pieces", () => {
  test("each piece is freed once filtered, and the body is parsed whole", async () => {
    const pieces: Buffer[] = [];
    const app = express();
    // Registered before the body reader's, this listener sees each piece before it is freed.
    app.post(
      "/body",
      (req, _res, next) => {
        req.on("data", (piece: Buffer) => pieces.push(piece));
        next();
      },
      jsonBody("64mb"),
      (req, res) => {
        res.json({ names: Object.keys((req.body as { related: Json }).related) });
      },
    );
    const { port, close } = await listenOnLoopback(app);
    try {
      const { body } = buildRequest(200);
      const reply = await postJson(port, "/body", body);
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual(JSON.parse(reply.text), {
        names: Object.keys((JSON.parse(body) as { related: Json }).related),
      });
      assert.ok(pieces.length > 1, `the body came in ${pieces.length} piece(s)`);
      const kept = pieces.filter((piece) => piece.length > 0).length;
      assert.equal(kept, 0, `${kept} of ${pieces.length} pieces were not freed`);
    } finally {
      await close();
    }
  });

  test("a piece is not freed while a listener after the body reader's is still to read it", async () => {
    let seen = 0;
    let empty = 0;
    const app = express();
    app.post(
      "/body",
      (req, _res, next) => {
        // Registered once the body reader has registered its own: this listener comes last.
        process.nextTick(() =>
          req.on("data", (piece: Buffer) => {
            seen += piece.length;
            if (piece.length === 0) empty++;
          }),
        );
        next();
      },
      jsonBody("64mb"),
      (_req, res) => {
        res.json({});
      },
    );
    const { port, close } = await listenOnLoopback(app);
    try {
      const { body } = buildRequest(200);
      assert.equal((await postJson(port, "/body", body)).status, 200);
      assert.equal(empty, 0, `${empty} pieces were freed before the last listener read them`);
      assert.equal(seen, Buffer.byteLength(body));
    } finally {
      await close();
    }
  });

  test("only a piece that owns its whole buffer is freed", () => {
    const own = Buffer.alloc(64 * 1024, 1);
    releasePiece(own);
    assert.equal(own.length, 0, "a piece with its own buffer is freed");
    // Small buffers share Node's pool, and a view shares its parent's buffer: both stay.
    const pooled = Buffer.from("pooled piece");
    releasePiece(pooled);
    assert.equal(pooled.toString(), "pooled piece");
    const parent = Buffer.alloc(64 * 1024, 2);
    const view = parent.subarray(0, 1024);
    releasePiece(view);
    assert.equal(view.length, 1024);
    assert.equal(parent.length, 64 * 1024);
  });
});

describe("limits and failures never answer 200", () => {
  test("an oversize body is 413 (Content-Length and chunked)", async () => {
    const srv = await startApp({ bodyLimit: "10kb" });
    try {
      assert.ok(BIG_SYNC_TEXT.length > 10 * 1024);
      assertPlainError(
        await postJson(srv.port, "/sync", BIG_SYNC_TEXT),
        413,
        /BODY_LIMIT \(10kb\)/,
      );
      assertPlainError(await postJson(srv.port, "/customize", BIG_SYNC_TEXT), 413);
      const chunked = await postJson(srv.port, "/sync", BIG_SYNC_TEXT, { chunked: true });
      assertPlainError(chunked, 413, /BODY_LIMIT/);
      // A small request still goes through: the limit is the body size, not a broken state.
      assertJson(await postJson(srv.port, "/customize", CUSTOMIZE_TEXT));
    } finally {
      await srv.close();
    }
  });

  test("a request aborted mid-body is the client's doing: never logged as a hook failure", async () => {
    const lines: string[] = [];
    const { promise: logged, resolve } = Promise.withResolvers<void>();
    const logger = pino(
      { level: "info" },
      {
        write: (line: string) => {
          lines.push(line);
          if (line.includes('"/sync"')) resolve();
        },
      },
    );
    const srv = await startApp({ logger });
    try {
      const body = Buffer.from(SYNC_TEXT);
      const { req, reply } = startRequest(srv.port, "/sync", {
        method: "POST",
        agent: false,
        body,
        headers: { "content-type": "application/json" },
      });
      reply.catch(() => undefined);
      req.on("error", () => undefined);
      req.flushHeaders();
      req.write(body.subarray(0, body.length / 2), () => req.destroy());
      await within(logged, 5000, "the request's log line");
      assert.ok(
        lines.every((line) => !line.includes("hook failed")),
        lines.join(""),
      );
      assert.ok(
        lines.every((line) => !line.includes('"statusCode":500')),
        lines.join(""),
      );
    } finally {
      await srv.close();
    }
  });

  test("the 413 message for a chunked body states its size", {}, async () => {
    const srv = await startApp({ bodyLimit: "10kb" });
    try {
      const reply = await postJson(srv.port, "/sync", BIG_SYNC_TEXT, { chunked: true });
      assertPlainError(reply, 413);
      assert.doesNotMatch(reply.text, /undefined/);
      // The rest of the body is dropped and the connection closed: it could not be reused.
      assert.equal(reply.headers.connection, "close");
    } finally {
      await srv.close();
    }
  });

  test("an exception in the engine is 500 with a plain message", async () => {
    const srv = await startApp({
      syncEngine: () => {
        throw new Error("boom");
      },
    });
    try {
      assertPlainError(await postJson(srv.port, "/sync", SYNC_TEXT), 500, /internal error: boom/);
      const metrics = await request(srv.port, "/metrics");
      assert.match(
        metrics.text,
        /^kube_external_sync_hook_requests_total\{hook="sync",code="500"\} 1$/m,
      );
    } finally {
      await srv.close();
    }
  });

  test("more than maxConcurrent hook requests in progress is 429 with Retry-After", async () => {
    const srv = await startApp({ maxConcurrent: 1 });
    try {
      // Hold one request open: headers and half of the body sent, the rest withheld.
      const { reply: held, finish: finishHeld } = halfSentSync(srv.port, false);

      // The held request occupies the only slot once the server has seen its headers.
      let busy: Reply | undefined;
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        const r = await postJson(srv.port, "/sync", SYNC_TEXT);
        if (r.status === 429) {
          busy = r;
          break;
        }
        assert.equal(r.status, 200, `unexpected ${r.status} while waiting for 429: ${r.text}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(busy, "never got 429 while a request was held open");
      assertPlainError(busy, 429, /busy/);
      assert.equal(busy.headers["retry-after"], "1");
      assertPlainError(await postJson(srv.port, "/customize", CUSTOMIZE_TEXT), 429);
      // Probes are not hook requests and are never shed.
      assert.equal((await request(srv.port, "/readyz")).status, 200);

      finishHeld();
      assertJson(await held);
      // The slot is released: the next request goes through.
      assertJson(await postJson(srv.port, "/sync", SYNC_TEXT));
    } finally {
      await srv.close();
    }
  });

  test("error answers release their concurrency slot", async () => {
    const srv = await startApp({
      maxConcurrent: 1,
      bodyLimit: "10kb",
      syncEngine: () => {
        throw new Error("boom");
      },
    });
    try {
      for (let i = 0; i < 3; i++) {
        assertPlainError(await postJson(srv.port, "/sync", BIG_SYNC_TEXT), 413);
        assertPlainError(await postJson(srv.port, "/sync", BIG_SYNC_TEXT, { chunked: true }), 413);
        assertPlainError(await postJson(srv.port, "/customize", "{"), 400);
        assertPlainError(await request(srv.port, "/customize", { method: "POST", body: "x" }), 415);
        assertPlainError(await postJson(srv.port, "/customize", { controller: {} }), 400);
        assertPlainError(await postJson(srv.port, "/sync", SYNC_TEXT), 500);
      }
      assertJson(await postJson(srv.port, "/customize", CUSTOMIZE_TEXT));
    } finally {
      await srv.close();
    }
  });

  test("a client that aborts mid-body releases its slot", async () => {
    const srv = await startApp({ maxConcurrent: 1 });
    try {
      const req = http.request({
        host: "127.0.0.1",
        port: srv.port,
        path: "/sync",
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", "content-length": 100_000 },
      });
      req.on("error", () => {});
      req.flushHeaders();
      req.write("{");
      await new Promise((r) => setTimeout(r, 100));
      req.destroy();
      const deadline = Date.now() + 3000;
      let last: Reply | undefined;
      while (Date.now() < deadline) {
        last = await postJson(srv.port, "/customize", CUSTOMIZE_TEXT);
        if (last.status === 200) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(last?.status, 200, "slot not released after the client went away");
    } finally {
      await srv.close();
    }
  });
});

describe("readiness", () => {
  test("/readyz is 200, then 503 after setReady(false), and 200 again", async () => {
    const srv = await startApp();
    try {
      const ok = await request(srv.port, "/readyz");
      assert.equal(ok.status, 200);
      srv.setReady(false);
      assertPlainError(await request(srv.port, "/readyz"), 503);
      assert.equal((await request(srv.port, "/healthz")).status, 200, "liveness is unaffected");
      srv.setReady(true);
      assert.equal((await request(srv.port, "/readyz")).status, 200);
    } finally {
      await srv.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The real entry point.

describe("node hooks/server.ts (child process)", () => {
  let tmp: string;
  const children: ServerProcess[] = [];
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "kes-http-"));
  });
  after(() => {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill("SIGKILL");
    rmSync(tmp, { recursive: true, force: true });
  });
  const run = (env: Record<string, string>) => {
    const c = startServerProcess({ HOST: "127.0.0.1", ...env });
    children.push(c);
    return c;
  };

  test("serves the example on HOST, then exits 0 on SIGTERM and stops answering", async () => {
    const port = await freePort();
    const child = run({ PORT: String(port), CONFIG_FILE: EXAMPLE_CONFIG });
    await waitReady(port, child);
    const body = assertJson(await postJson(port, "/sync", SYNC_TEXT));
    assert.equal((body.attachments as unknown[]).length, 4);

    child.proc.kill("SIGTERM");
    const { code, signal } = await within(child.exit, 5000, "exit after SIGTERM");
    assert.equal(signal, null);
    assert.equal(code, 0, child.stderr());
    await assert.rejects(request(port, "/readyz"), /ECONNREFUSED/);
  });

  /**
   * Sends half of the example sync request, SIGTERMs the server, checks it is still running,
   * sends the rest, and expects a 200 and then exit 0 within `exitMs`.
   */
  async function requestAcrossSigterm(keepAlive: boolean, exitMs: number): Promise<void> {
    const port = await freePort();
    const child = run({ PORT: String(port), CONFIG_FILE: EXAMPLE_CONFIG });
    await waitReady(port, child);
    const agent = new http.Agent({ keepAlive });
    const { reply, finish } = halfSentSync(port, agent);
    try {
      await new Promise((r) => setTimeout(r, 200));
      child.proc.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(child.proc.exitCode, null, "exited with a request in progress");
      finish();
      assertJson(await reply);
      const { code } = await within(child.exit, exitMs, "exit after the last request");
      assert.equal(code, 0, child.stderr());
    } finally {
      agent.destroy();
    }
  }

  test("a request in progress at SIGTERM is answered, then the process exits 0", () =>
    requestAcrossSigterm(false, 5000));

  test("a request in progress at SIGTERM on a keep-alive connection does not delay exit", {}, () =>
    requestAcrossSigterm(true, 3000),
  );

  test("an invalid CONFIG_FILE stops the server with a message naming the field", async () => {
    const cases: [string, RegExp][] = [
      ["sourceNamespaces: [Not_A_Namespace]\n", /sourceNamespaces/],
      ["externalNameSuffix: 'not a suffix!'\n", /externalNameSuffix/],
      ["sourceNamespace: [develop]\n", /unknown field\(s\) sourceNamespace\b/],
      ["excludeNamespaces: ['(unclosed']\n", /excludeNamespaces/],
    ];
    await Promise.all(
      cases.map(async ([yaml, pattern], i) => {
        const file = join(tmp, `bad-${i}.yaml`);
        writeFileSync(file, yaml);
        const child = run({ PORT: String(await freePort()), CONFIG_FILE: file });
        const { code } = await within(child.exit, 10_000, `exit on bad config ${i}`);
        assert.notEqual(code, 0);
        assert.notEqual(code, null);
        assert.match(child.stderr(), pattern);
      }),
    );
  });

  test("a missing CONFIG_FILE stops the server naming the file", async () => {
    const file = join(tmp, "does-not-exist.yaml");
    const child = run({ PORT: String(await freePort()), CONFIG_FILE: file });
    const { code } = await within(child.exit, 10_000, "exit on missing config");
    assert.notEqual(code, 0);
    assert.match(child.stderr(), /CONFIG_FILE/);
    assert.ok(child.stderr().includes(file));
  });

  test("invalid environment variables stop the server naming them", async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ BODY_LIMIT: "lots" }, /BODY_LIMIT/],
      [{ BODY_LIMIT: "32 megabytes" }, /BODY_LIMIT/],
      [{ MAX_CONCURRENT_REQUESTS: "0" }, /MAX_CONCURRENT_REQUESTS/],
      [{ LOG_LEVEL: "loud" }, /LOG_LEVEL/],
      [{ PORT: "http" }, /PORT/],
    ];
    await Promise.all(
      cases.map(async ([env, pattern]) => {
        const child = run({ PORT: String(await freePort()), CONFIG_FILE: EXAMPLE_CONFIG, ...env });
        const { code } = await within(child.exit, 10_000, `exit on ${JSON.stringify(env)}`);
        assert.notEqual(code, 0);
        assert.notEqual(code, null);
        assert.match(child.stderr(), pattern);
      }),
    );
  });
});
