import { readFileSync } from "node:fs";
import { join } from "node:path";

// The Dockerfile as the image test and the bench read it: its stages, and what the runtime stage
// runs (CMD) with which environment (ENV), so both run the server as the image does.

const ROOT = new URL("../..", import.meta.url).pathname;

export interface Stage {
  name: string | undefined;
  steps: { op: string; args: string }[];
}

/** The stages of the repository's Dockerfile, each with its instructions in order. */
export function dockerfileStages(): Stage[] {
  const stages: Stage[] = [];
  for (const line of readFileSync(join(ROOT, "Dockerfile"), "utf8").split("\n")) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!m || line.trim().startsWith("#")) continue;
    const [, op = "", args = ""] = m;
    if (op === "FROM") stages.push({ name: /\sAS\s+(\S+)/i.exec(args)?.[1], steps: [] });
    else stages.at(-1)?.steps.push({ op, args });
  }
  return stages;
}

/** The runtime (last) stage's CMD, as argv, and the environment its ENV lines set. */
export function runtimeOf(stages: readonly Stage[]): {
  argv: string[];
  env: Record<string, string>;
} {
  const steps = stages.at(-1)?.steps ?? [];
  const cmd = steps.find((s) => s.op === "CMD");
  const argv = cmd === undefined ? [] : (JSON.parse(cmd.args) as string[]);
  const env: Record<string, string> = {};
  for (const { op, args } of steps) {
    if (op !== "ENV") continue;
    for (const pair of args.split(/\s+/)) {
      const [key, value] = pair.split("=");
      if (key && value !== undefined) env[key] = value;
    }
  }
  return { argv, env };
}
