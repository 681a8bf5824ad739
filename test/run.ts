// Runs node's test runner over the files matching a glob, and fails when no test ran: node --test
// itself exits 0 when a glob matches nothing, which would let a broken suite pass in CI.
//
//   node test/run.ts "test/*.test.ts" [--serial]

import { globSync } from "node:fs";
import { run } from "node:test";
import { spec } from "node:test/reporters";

const [pattern, ...flags] = process.argv.slice(2);
if (pattern === undefined) {
  console.error("usage: node test/run.ts <glob> [--serial]");
  process.exit(2);
}
const files = globSync(pattern).sort();
if (files.length === 0) {
  console.error(`no test files match ${pattern}`);
  process.exit(1);
}

let passed = 0;
let failed = 0;
const stream = run({ files, concurrency: flags.includes("--serial") ? 1 : true });
stream.on("test:pass", (e) => {
  if (e.details.type !== "suite") passed++;
});
stream.on("test:fail", (e) => {
  if (e.details.type !== "suite") failed++;
});
stream.on("end", () => {
  console.log(`${passed} passed, ${failed} failed`);
  if (passed === 0) console.error(`no test ran from ${files.length} file(s) matching ${pattern}`);
  if (failed > 0 || passed === 0) process.exitCode = 1;
});
stream.compose(spec).pipe(process.stdout);
