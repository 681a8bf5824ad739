// lib/dns.ts: DNS names as the API server checks them (RFC 1123), table-driven, and checked
// against the patterns the rules are usually written as.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { isDnsLabel, isDnsSubdomain, isRouteHost } from "../lib/dns.ts";

const LABEL_PATTERN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const isLabel = (value: string) => value.length <= 63 && LABEL_PATTERN.test(value);
const isSubdomain = (value: string) => value.length <= 253 && value.split(".").every(isLabel);

describe("names, one row each", () => {
  const cases: [string, { label: boolean; subdomain: boolean; routeHost: boolean }][] = [
    ["api", { label: true, subdomain: true, routeHost: true }],
    ["api-2", { label: true, subdomain: true, routeHost: true }],
    ["api.develop.svc.cluster.local", { label: false, subdomain: true, routeHost: true }],
    ["*.example.com", { label: false, subdomain: false, routeHost: true }],
    ["", { label: false, subdomain: false, routeHost: false }],
    ["-api", { label: false, subdomain: false, routeHost: false }],
    ["api-", { label: false, subdomain: false, routeHost: false }],
    ["a..b", { label: false, subdomain: false, routeHost: false }],
    [".a", { label: false, subdomain: false, routeHost: false }],
    ["a.", { label: false, subdomain: false, routeHost: false }],
    ["Api", { label: false, subdomain: false, routeHost: false }],
    ["a_b", { label: false, subdomain: false, routeHost: false }],
    ["a".repeat(63), { label: true, subdomain: true, routeHost: true }],
    ["a".repeat(64), { label: false, subdomain: false, routeHost: false }],
    [
      `${"a".repeat(63)}.`.repeat(3) + "a".repeat(61),
      { label: false, subdomain: true, routeHost: true },
    ],
    [
      `${"a".repeat(63)}.`.repeat(3) + "a".repeat(62),
      { label: false, subdomain: false, routeHost: false },
    ],
  ];
  for (const [name, expected] of cases) {
    test(JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}…(${name.length})` : name), () => {
      assert.deepEqual(
        { label: isDnsLabel(name), subdomain: isDnsSubdomain(name), routeHost: isRouteHost(name) },
        expected,
      );
    });
  }
});

test("any string: the checks agree with the patterns", () => {
  const unit = fc.constantFrom("a", "z", "0", "9", "-", ".", "A", "_", "é", "*");
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 300 }), (value) => {
      assert.equal(isDnsLabel(value), value !== "" && isLabel(value));
      assert.equal(isDnsSubdomain(value), value !== "" && isSubdomain(value));
    }),
    { numRuns: 5000 },
  );
});
