// The kube-external-sync CLI (cli/main.ts), run as a process the way a user or CI runs it, on
// examples/ and on bad input: what it prints on stdout and stderr, and its exit code.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { dump, load, loadAll } from "js-yaml";
import { manifestsOf } from "../cli/manifests.ts";
import { RENDER_ATTACHMENTS } from "../cli/render.ts";
import type { KubeObject } from "../lib/types.ts";
import { assertNoSecretData, REPLICATE_TO, secret, secretMarker } from "./support/builders.ts";

const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "cli", "main.ts");
const EXAMPLES = ["examples/develop.yaml", "examples/feature-namespaces.yaml"];
const EXAMPLE_FLAGS = EXAMPLES.flatMap((f) => ["-f", f]);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: readonly string[], input?: string): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    input,
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const work = mkdtempSync(join(tmpdir(), "kes-cli-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** A file in the test's temporary directory. */
function file(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

/** A Service's ports without `protocol: TCP`, the API server's default. */
function withoutDefaultProtocol(object: KubeObject): KubeObject {
  const spec = object.spec as { ports?: { protocol?: string }[] } | undefined;
  if (object.kind !== "Service" || spec?.ports === undefined) return object;
  const ports = spec.ports.map((port) => {
    const { protocol, ...rest } = port;
    return protocol === "TCP" ? rest : port;
  });
  return { ...object, spec: { ...spec, ports } };
}

/** The 1-based line of the first occurrence of `needle` in `text`. */
function lineOf(text: string, needle: string): number {
  const at = text.indexOf(needle);
  assert.ok(at >= 0, needle);
  return text.slice(0, at).split("\n").length;
}

function names(objects: KubeObject[]): string[] {
  return objects.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);
}

describe("render", () => {
  test("examples: feature-login gets the three Services and the Ingress the hook answers for it", () => {
    const r = cli(["render", ...EXAMPLE_FLAGS, "--namespace", "feature-login"]);
    assert.equal(r.code, 0, r.stderr);
    const mirrors = loadAll(r.stdout) as KubeObject[];
    assert.deepEqual(names(mirrors), [
      "Ingress/feature-login/example",
      "Service/feature-login/example-api",
      "Service/feature-login/example-web",
      "Service/feature-login/postgres",
    ]);
    assert.equal(r.stderr, "namespace feature-login: 4 mirror(s) (Ingress: 1, Service: 3)\n");

    // The same mirrors as the hook's answer to the example request, whose sources are these
    // manifests read back from an API server. That server defaulted `protocol: TCP` on the ports
    // the manifests leave it out of (and does so on the mirrors too): the only difference.
    const fixture = JSON.parse(
      readFileSync(join(ROOT, "test/fixtures/sync/example-sync-request.json"), "utf8"),
    ) as { expect: { response: { attachments: KubeObject[] } } };
    assert.deepEqual(
      mirrors.map(withoutDefaultProtocol),
      fixture.expect.response.attachments.map(withoutDefaultProtocol),
    );
  });

  test("examples: checkout-redesign is selected by its label and skips example-api (stderr)", () => {
    const r = cli(["render", ...EXAMPLE_FLAGS, "-n", "checkout-redesign", "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { apiVersion: string; kind: string; items: KubeObject[] };
    assert.equal(list.kind, "List");
    assert.deepEqual(names(list.items), [
      "Ingress/checkout-redesign/example",
      "Service/checkout-redesign/example-web",
      "Service/checkout-redesign/postgres",
    ]);
    assert.deepEqual(r.stderr.split("\n"), [
      "namespace checkout-redesign: 3 mirror(s) (Ingress: 1, Service: 2)",
      "Skipped Service/example-api from develop/example-api: namespace annotation kube-external-sync.io/skip names it",
      "",
    ]);
  });

  test("route examples with the route config: IngressRoute, Middleware and HTTPRoute mirrors", () => {
    const r = cli([
      "render",
      ...EXAMPLE_FLAGS,
      "-f",
      "examples/routes.yaml",
      "-n",
      "feature-login",
      "--config",
      "examples/config-routes.yaml",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const kinds = (loadAll(r.stdout) as KubeObject[]).map((o) => o.kind);
    for (const kind of ["HTTPRoute", "IngressRoute", "Middleware", "Service", "Ingress"]) {
      assert.ok(kinds.includes(kind), `${kind} in ${kinds.join(", ")}`);
    }
  });

  test("--labels and --annotations describe a namespace the manifests do not declare", () => {
    const plain = cli(["render", ...EXAMPLE_FLAGS, "-n", "qa"]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, "", "qa matches no replicate-to pattern and has no label");
    const labelled = cli([
      "render",
      ...EXAMPLE_FLAGS,
      "-n",
      "qa",
      "--labels",
      "kube-external-sync.io/branch=true,team=a",
      "--annotations",
      "kube-external-sync.io/skip=example-api,Ingress/example",
    ]);
    assert.equal(labelled.code, 0, labelled.stderr);
    assert.deepEqual(names(loadAll(labelled.stdout) as KubeObject[]), [
      "Service/qa/example-web",
      "Service/qa/postgres",
    ]);
    assert.match(labelled.stderr, /^Skipped Ingress\/example from develop\/example: /m);
    assert.match(labelled.stderr, /^Skipped Service\/example-api from develop\/example-api: /m);
  });

  test("an unmanaged object in the namespace itself is a conflict, as in the cluster", () => {
    const own = file(
      "own-postgres.yaml",
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: postgres\n  namespace: feature-login\nspec:\n  ports: [{port: 5432}]\n",
    );
    const r = cli(["render", ...EXAMPLE_FLAGS, "-f", own, "-n", "feature-login"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!names(loadAll(r.stdout) as KubeObject[]).includes("Service/feature-login/postgres"));
    assert.match(
      r.stderr,
      /^Conflict Service\/postgres from develop\/postgres: Service\/postgres already exists in feature-login and is not managed by kube-external-sync: left alone$/m,
    );
  });

  test("sourceSelector reads the objects' own labels only (a key named like an Object method)", () => {
    const config = file(
      "selector-config.yaml",
      'sourceNamespaces: [develop]\nsourceSelector: "!constructor"\n',
    );
    const r = cli(["render", ...EXAMPLE_FLAGS, "--config", config, "-n", "feature-login"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(names(loadAll(r.stdout) as KubeObject[]).includes("Service/feature-login/postgres"));
  });

  test("reads a JSON List from stdin (-f -) like the same objects in YAML", () => {
    const docs = EXAMPLES.flatMap((f) => loadAll(readFileSync(join(ROOT, f), "utf8")));
    const list = JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }, null, 1);
    const fromStdin = cli(["render", "-f", "-", "-n", "feature-login"], list);
    const fromFiles = cli(["render", ...EXAMPLE_FLAGS, "-n", "feature-login"]);
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout, fromFiles.stdout);
    assert.notEqual(fromStdin.stdout, "");
  });

  test("a source namespace gets no mirrors, and says so", () => {
    const r = cli(["render", ...EXAMPLE_FLAGS, "-n", "develop"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /namespace develop: no mirrors: it is a source namespace or excluded/);
  });

  test("an invalid annotation is reported on stderr and creates no mirror", () => {
    const bad = file(
      "bad-source.yaml",
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n  namespace: develop\n  annotations:\n    kube-external-sync.io/replicate-to: 'feature-(('\nspec:\n  ports: [{port: 80}]\n",
    );
    const r = cli(["render", "-f", bad, "-n", "feature-login"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^InvalidAnnotation Service\/broken from develop\/broken: no mirror created: metadata\.annotations\[kube-external-sync\.io\/replicate-to\]: Invalid value: "feature-\(\("/m,
    );
  });

  test("TLS Secrets: the mirror carries the certificate on stdout; no other output shows Secret data", () => {
    // MIRRORED may appear only in the mirrors' data on stdout; NEVER nowhere at all.
    const mirrored = secretMarker("mirrored");
    const never = secretMarker("never");
    const toFeature = { [REPLICATE_TO]: "feature-.*" };
    const secrets = [
      secret(
        "develop",
        "wildcard-tls",
        "kubernetes.io/tls",
        { "tls.crt": "Y2VydGlmaWNhdGU=", "tls.key": mirrored.encoded, "extra.key": never.encoded },
        { annotations: toFeature },
      ),
      // kubectl apply sends stringData; the API server stores it in data, base64-encoded.
      {
        ...secret("develop", "string-tls", "kubernetes.io/tls", {}, { annotations: toFeature }),
        stringData: { "tls.crt": "certificate", "tls.key": mirrored.plain },
      },
      secret(
        "develop",
        "db-password",
        "Opaque",
        { password: never.encoded },
        {
          annotations: toFeature,
        },
      ),
      secret(
        "develop",
        "broken-tls",
        "kubernetes.io/tls",
        { "tls.key": never.encoded },
        {
          annotations: { [REPLICATE_TO]: "feature-((" },
        },
      ),
      secret(
        "develop",
        "no-key-tls",
        "kubernetes.io/tls",
        { "tls.crt": never.encoded },
        {
          annotations: toFeature,
        },
      ),
      secret(
        "develop",
        "taken-tls",
        "kubernetes.io/tls",
        { "tls.key": never.encoded },
        {
          annotations: toFeature,
        },
      ),
      secret("feature-login", "taken-tls", "kubernetes.io/tls", { "tls.key": never.encoded }),
    ];
    const manifests = file("secrets.yaml", secrets.map((o) => dump(o)).join("---\n"));

    for (const output of ["yaml", "json"]) {
      const r = cli(["render", "-f", manifests, "-n", "feature-login", "-o", output]);
      assert.equal(r.code, 0, r.stderr);
      const printed =
        output === "json"
          ? (JSON.parse(r.stdout) as { items: KubeObject[] }).items
          : (loadAll(r.stdout) as KubeObject[]);
      assert.deepEqual(names(printed), [
        "Secret/feature-login/string-tls",
        "Secret/feature-login/wildcard-tls",
      ]);
      const byName = new Map(printed.map((o) => [o.metadata.name, o]));
      assert.deepEqual(byName.get("wildcard-tls")?.data, {
        "tls.crt": "Y2VydGlmaWNhdGU=",
        "tls.key": mirrored.encoded,
      });
      assert.deepEqual(byName.get("string-tls")?.data, {
        "tls.crt": Buffer.from("certificate").toString("base64"),
        "tls.key": Buffer.from(mirrored.plain).toString("base64"),
      });
      assert.equal(byName.get("string-tls")?.stringData, undefined);

      // The report names each refusal, and quotes no data.
      for (const line of [
        /^namespace feature-login: 2 mirror\(s\) \(Secret: 2\)$/m,
        /^NotCopied Secret\/wildcard-tls from develop\/wildcard-tls: .*extra\.key/m,
        /^NotCopied Secret\/db-password from develop\/db-password: /m,
        /^NotCopied Secret\/no-key-tls from develop\/no-key-tls: /m,
        /^InvalidAnnotation Secret\/broken-tls from develop\/broken-tls: /m,
        /^Conflict Secret\/taken-tls from develop\/taken-tls: /m,
      ]) {
        assert.match(r.stderr, line, output);
      }
      assertNoSecretData(r.stderr, `render -o ${output} stderr`, mirrored);
      assertNoSecretData(r.stderr, `render -o ${output} stderr`, never);
      assertNoSecretData(r.stdout, `render -o ${output} stdout`, never);
      // Without the mirrors' data, stdout holds nothing of the mirrored value either.
      const withoutData = printed.map(({ data: _data, ...rest }) => rest);
      assertNoSecretData(JSON.stringify(withoutData), `render -o ${output} metadata`, mirrored);
    }

    // check reads the same Secrets: its findings quote no data either.
    const checked = cli(["check", "-f", manifests]);
    assert.equal(checked.code, 1, checked.stderr);
    assert.match(checked.stdout, /broken-tls/);
    for (const marker of [mirrored, never]) {
      assertNoSecretData(checked.stdout + checked.stderr, "check output", marker);
    }

    // A malformed manifest is reported by file and line, without quoting the line.
    const malformed = file(
      "malformed-secret.yaml",
      `apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: develop}\ndata:\n  tls.key: ${never.encoded}\n  tls.crt: [${never.encoded}\n`,
    );
    const bad = cli(["render", "-f", malformed, "-n", "feature-login"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /malformed-secret\.yaml:\d+: malformed YAML/);
    assert.equal(bad.stdout, "");
    assertNoSecretData(bad.stderr, "the malformed-YAML message", never);
  });

  test("malformed YAML: file and line named, exit 1", () => {
    const bad = file("malformed.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n");
    const r = cli(["render", "-f", bad, "-n", "feature-login"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`^kube-external-sync: ${bad}:5: malformed YAML: `));
  });

  test("a document that is not an object: file, line and field named, exit 1", () => {
    const bad = file(
      "not-object.yaml",
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n# second\napiVersion: v1\nkind: Service\nmetadata:\n  namespace: develop\n",
    );
    const r = cli(["render", "-f", bad, "-n", "feature-login"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `kube-external-sync: ${bad}:9: metadata.name: Required value\n`);
  });

  test("an unreadable or missing file is named, exit 1", () => {
    const locked = file("locked.yaml", "apiVersion: v1\n");
    chmodSync(locked, 0o000);
    const missing = join(work, "missing.yaml");
    const r = cli(["render", "-f", missing, "-n", "feature-login"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^kube-external-sync: ${missing}: cannot read: ENOENT`));
    // Root reads any file: the permission case only holds for other users.
    if (process.getuid?.() !== 0) {
      const denied = cli(["render", "-f", locked, "-n", "feature-login"]);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, new RegExp(`${locked}: cannot read: EACCES`));
    }
  });

  test("a bad configuration file: file, line and field named, exit 1", () => {
    const config = file("config.yaml", "sourceNamespaces: [develop]\ngatewayBackends: remote\n");
    const r = cli(["render", ...EXAMPLE_FLAGS, "-n", "feature-login", "--config", config]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`^${config}:2: configuration: gatewayBackends: `));
  });

  test("bad flags: exit 2 with a message naming the flag", () => {
    const cases: [string[], RegExp][] = [
      [
        ["render", "--bogus"],
        /^kube-external-sync render: unknown flag --bogus \(see kube-external-sync render --help\)\n$/,
      ],
      [["render", ...EXAMPLE_FLAGS], /^kube-external-sync render: --namespace is required/],
      [["render", "-n", "x"], /^kube-external-sync render: -f\/--filename is required/],
      [
        ["render", ...EXAMPLE_FLAGS, "-n", "Feature_X"],
        /--namespace: Invalid value: "Feature_X": must be a namespace name \(a DNS label\)/,
      ],
      [
        ["render", ...EXAMPLE_FLAGS, "-n", "x", "-o", "xml"],
        /--output: Unsupported value: "xml": supported values: "yaml", "json"/,
      ],
      [
        ["render", ...EXAMPLE_FLAGS, "-n", "x", "--labels", "team"],
        /--labels: Invalid value: "team": expected key=value/,
      ],
      [["render", ...EXAMPLE_FLAGS, "-n", "x", "extra"], /unexpected argument "extra"/],
      [["check", "-f"], /^kube-external-sync check: .*--filename.* argument missing/],
      [["check"], /^kube-external-sync check: -f\/--filename or --config is required/],
      [["deploy"], /^kube-external-sync: unknown command "deploy": expected render or check/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, message, args.join(" "));
      assert.equal(r.stdout, "", args.join(" "));
    }
  });

  test("the declared attachments are the package's DecoratorController with every component", () => {
    const controller = load(
      readFileSync(join(ROOT, "metacontroller/decoratorcontroller.yaml"), "utf8"),
    ) as { spec: { attachments: unknown[] } };
    const expected = [...controller.spec.attachments];
    for (const component of ["traefik", "traefik-v2", "gateway-api", "tls-secrets"]) {
      const kustomization = load(
        readFileSync(
          join(ROOT, "metacontroller/components", component, "kustomization.yaml"),
          "utf8",
        ),
      ) as { patches: { patch: string }[] };
      for (const { patch } of kustomization.patches) {
        for (const op of load(patch) as { op: string; path: string; value: unknown }[]) {
          assert.equal(`${op.op} ${op.path}`, "add /spec/attachments/-");
          expected.push(op.value);
        }
      }
    }
    assert.deepEqual(RENDER_ATTACHMENTS, expected);
  });
});

describe("check", () => {
  test("examples and their configuration files are valid: exit 0, nothing on stdout", () => {
    for (const config of ["examples/config.yaml", "examples/config-routes.yaml"]) {
      const r = cli(["check", ...EXAMPLE_FLAGS, "-f", "examples/routes.yaml", "--config", config]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr,
        /^\d+ object\(s\) checked and the configuration: 0 invalid, 0 warning\(s\)$/m,
      );
    }
  });

  test("bad annotations: one line per problem with file, line, object and field; exit 1", () => {
    const bad = file(
      "bad-annotations.yaml",
      [
        "apiVersion: v1",
        "kind: Service",
        "metadata:",
        "  name: api",
        "  namespace: develop",
        "  annotations:",
        "    kube-external-sync.io/replicate-to: 'feature-(('",
        "    kube-external-sync.io/top-level-domain: 'example..com'",
        "    kube-external-sync.io/keep-owner-references: 'true'",
        "spec: {ports: [{port: 80}]}",
        "---",
        "apiVersion: v1",
        "kind: Namespace",
        "metadata:",
        "  name: feature-x",
        "  annotations:",
        "    kube-external-sync.io/skip: Foo/bar,api",
        "",
      ].join("\n"),
    );
    const r = cli(["check", "-f", bad]);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 4, r.stdout);
    assert.match(
      lines[0] ?? "",
      new RegExp(
        `^${bad}:7: Service develop/api: metadata\\.annotations\\[kube-external-sync\\.io/replicate-to\\]: Invalid value: "feature-\\(\\(": `,
      ),
    );
    assert.match(
      lines[1] ?? "",
      new RegExp(
        `^${bad}:8: Service develop/api: metadata\\.annotations\\[kube-external-sync\\.io/top-level-domain\\]: Invalid value: "example\\.\\.com": `,
      ),
    );
    assert.match(
      lines[2] ?? "",
      new RegExp(
        `^${bad}:9: warning: Service develop/api: metadata\\.annotations\\[kube-external-sync\\.io/keep-owner-references\\]: "true": not supported`,
      ),
    );
    assert.equal(
      lines[3],
      `${bad}:17: Namespace feature-x: metadata.annotations[kube-external-sync.io/skip]: Invalid value: "Foo/bar": unknown kind "Foo"; known: Service, Ingress, HTTPRoute, ReferenceGrant, IngressRoute, IngressRouteTCP, Middleware, MiddlewareTCP, Secret`,
    );
    assert.equal(r.stderr, "2 object(s) checked: 3 invalid, 1 warning(s)\n");
  });

  test("warnings alone (no effect, unknown kind) do not fail", () => {
    const text = JSON.stringify(
      {
        apiVersion: "v1",
        kind: "List",
        items: [
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: {
              name: "web",
              namespace: "develop",
              annotations: { "kube-external-sync.io/replicate-to": "feature-.*" },
            },
          },
          {
            apiVersion: "v1",
            kind: "Service",
            metadata: {
              name: "db",
              namespace: "develop",
              annotations: { "kube-external-sync.io/strip-labels": "true" },
            },
          },
        ],
      },
      null,
      2,
    );
    const odd = file("warnings.json", text);
    const r = cli(["check", "-f", odd]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 2, r.stdout);
    assert.match(
      lines[0] ?? "",
      new RegExp(
        `^${odd}:${lineOf(text, '"kube-external-sync.io/replicate-to"')}: warning: Deployment develop/web: kind: kube-external-sync does not mirror apps/v1 Deployment`,
      ),
    );
    assert.match(
      lines[1] ?? "",
      new RegExp(
        `^${odd}:${lineOf(text, '"kube-external-sync.io/strip-labels"')}: warning: Service develop/db: metadata\\.annotations: no replicate-to, `,
      ),
    );
  });

  test("a namespace exported from the cluster: the keys the hook wrote are not reported", () => {
    const exported = file(
      "exported-namespace.yaml",
      [
        "apiVersion: v1",
        "kind: Namespace",
        "metadata:",
        "  name: feature-x",
        "  labels:",
        "    kube-external-sync.io/state: Degraded",
        "  annotations:",
        "    kube-external-sync.io/hosts: api.feature-x.example.com",
        `    kube-external-sync.io/status: '{"skipped":[],"invalid":[]}'`,
        "    kube-external-sync.io/skip: api",
        "    kube-external-sync.io/hots: typo",
        "",
      ].join("\n"),
    );
    const r = cli(["check", "-f", exported]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // Only the user's typo is reported; hosts and status (and the state label) are the hook's.
    assert.deepEqual(r.stdout.trim().split("\n"), [
      `${exported}:11: warning: Namespace feature-x: metadata.annotations[kube-external-sync.io/hots]: unknown annotation on a Namespace (only kube-external-sync.io/skip); ignored`,
    ]);
  });

  test("malformed YAML is reported with its line and the other files are still checked", () => {
    const malformed = file(
      "check-malformed.yaml",
      "apiVersion: v1\nkind: Service\n  metadata: {}\n",
    );
    const bad = file(
      "check-bad.yaml",
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  annotations:\n    kube-external-sync.io/skip: 'a b'\n",
    );
    const r = cli(["check", "-f", malformed, "-f", bad, "-f", join(work, "absent.yaml")]);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0] ?? "", new RegExp(`^${malformed}:3: input: malformed YAML: `));
    assert.match(
      lines[1] ?? "",
      new RegExp(
        `^${bad}:6: Namespace x: metadata\\.annotations\\[kube-external-sync\\.io/skip\\]: Invalid value: "a b"`,
      ),
    );
    assert.match(
      lines[2] ?? "",
      new RegExp(`^${join(work, "absent.yaml")}: input: cannot read: ENOENT`),
    );
  });

  test("a bad configuration file: each field with its line", () => {
    const config = file(
      "check-config.yaml",
      "# comment\nsourceNamespaces: [develop]\nexcludeNamespaces:\n  - kube-system\n  - 'feature-(('\ndefaultTopLevelDomain: 'a..b'\n",
    );
    const r = cli(["check", "--config", config]);
    assert.equal(r.code, 1);
    assert.deepEqual(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => l.slice(0, l.indexOf(": Invalid value"))),
      [
        `${config}:3: configuration: excludeNamespaces`,
        `${config}:6: configuration: defaultTopLevelDomain`,
      ],
    );
    const unknown = file(
      "check-unknown.yaml",
      "sourceNamespaces: [develop]\ngatewayBackend: local\n",
    );
    const u = cli(["check", "--config", unknown]);
    assert.equal(u.code, 1);
    assert.equal(
      u.stdout,
      `${unknown}:2: configuration: (document): unknown field(s) gatewayBackend\n`,
    );
  });
});

describe("--help", () => {
  for (const [args, usage] of [
    [["--help"], /^kube-external-sync: preview and validate/],
    [
      ["render", "--help"],
      /^Usage: kube-external-sync render -f <files\|dirs\|-> --namespace <name>/,
    ],
    [["check", "-h"], /^Usage: kube-external-sync check -f <files\|dirs> \[--config <file>\]/],
  ] as const) {
    test(args.join(" "), () => {
      const r = cli(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, usage);
      assert.equal(r.stderr, "");
    });
  }
});

describe("manifest positions", () => {
  const key = fc.stringMatching(/^[a-z][a-z0-9./-]{0,20}$/);
  const objectArb = fc.record({
    apiVersion: fc.constant("v1"),
    kind: fc.constantFrom("Service", "Namespace", "ConfigMap"),
    metadata: fc.record({
      name: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
      annotations: fc.dictionary(key, fc.string({ maxLength: 40 }), { maxKeys: 4 }),
    }),
    data: fc.dictionary(key, fc.string({ maxLength: 80 }), { maxKeys: 3 }),
  });

  test("any multi-document YAML or JSON List: the same objects, each field at the line of its key", () => {
    fc.assert(
      fc.property(
        fc.array(objectArb, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (generated, asJson) => {
          // Plain objects (fast-check's records and dictionaries may have a null prototype).
          const objects = JSON.parse(JSON.stringify(generated)) as typeof generated;
          const text = asJson
            ? JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2)
            : objects.map((o) => dump(o)).join("---\n");
          const manifests = manifestsOf(text, "input.yaml");
          assert.deepEqual(
            manifests.map((m) => m.object),
            objects,
          );
          const lines = text.split("\n");
          for (const m of manifests) {
            const nameLine = lines[m.lineOf(["metadata", "name"]) - 1] ?? "";
            assert.match(nameLine, /^\s*"?name"?:/, nameLine);
            for (const annotation of Object.keys(m.object.metadata.annotations ?? {})) {
              const line = lines[m.lineOf(["metadata", "annotations", annotation]) - 1] ?? "";
              assert.ok(
                line.includes(annotation) || line.includes(JSON.stringify(annotation)),
                line,
              );
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
