import { ConfigError } from "../lib/config.ts";

// The server's environment variables (docs/design.md#configuration), validated before anything starts.

export interface Environment {
  port: number;
  /** Listen address; undefined: every interface (what a pod needs). */
  host: string | undefined;
  configFile: string | undefined;
  logLevel: string;
  bodyLimit: string;
  maxConcurrent: number;
  podNamespace: string | undefined;
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
// Metacontroller sends whole objects; 100 kB (Express's default) fails at about a hundred sources.
const DEFAULT_BODY_LIMIT = "32mb";

export function readEnvironment(env: NodeJS.ProcessEnv): Environment {
  const problems: string[] = [];
  const portText = env.PORT ?? "8080";
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535)
    problems.push(`PORT: Invalid value: "${portText}": must be a port number (0-65535)`);
  const logLevel = env.LOG_LEVEL ?? "info";
  if (!LEVELS.includes(logLevel))
    problems.push(`LOG_LEVEL: Invalid value: "${logLevel}": must be one of ${LEVELS.join(", ")}`);
  const bodyLimit = env.BODY_LIMIT ?? DEFAULT_BODY_LIMIT;
  if (!/^\d+(?:\.\d+)?\s?(?:b|kb|mb|gb)?$/i.test(bodyLimit)) {
    problems.push(
      `BODY_LIMIT: Invalid value: "${bodyLimit}": must be a size such as 32mb or 500kb`,
    );
  }
  const concurrentText = env.MAX_CONCURRENT_REQUESTS ?? "16";
  const maxConcurrent = Number(concurrentText);
  if (!/^\d{1,6}$/.test(concurrentText) || maxConcurrent < 1) {
    problems.push(
      `MAX_CONCURRENT_REQUESTS: Invalid value: "${concurrentText}": must be a positive integer`,
    );
  }
  if (problems.length > 0)
    throw new ConfigError(`invalid environment:\n  ${problems.join("\n  ")}`);
  return {
    port,
    host: env.HOST || undefined,
    configFile: env.CONFIG_FILE || undefined,
    logLevel,
    bodyLimit,
    maxConcurrent,
    podNamespace: env.POD_NAMESPACE || undefined,
  };
}
