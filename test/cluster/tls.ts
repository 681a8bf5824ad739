import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

// Key material for tests against the API server, which warns about a kubernetes.io/tls Secret
// whose tls.crt and tls.key are not a matching PEM pair. Made fresh for each run, never stored.

/** The data of a TLS Secret, base64-encoded: tls.crt, tls.key, and ca.crt (the same certificate). */
export type TLSData = Record<"tls.crt" | "tls.key" | "ca.crt", string>;

/** A self-signed certificate and its key, made with openssl for this run and then deleted. */
export async function makeTestCertificate(): Promise<TLSData> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kes-tls-"));
  try {
    const [key, crt] = [path.join(dir, "tls.key"), path.join(dir, "tls.crt")];
    const args = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1";
    try {
      execFileSync(
        "openssl",
        [...args.split(" "), "-subj", "/CN=*.example.com", "-keyout", key, "-out", crt],
        {
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
    } catch (e) {
      throw new Error(
        `openssl (Debian package openssl) makes the test certificate: ${(e as Error).message}`,
      );
    }
    const b64 = async (file: string) => (await readFile(file)).toString("base64");
    return { "tls.crt": await b64(crt), "tls.key": await b64(key), "ca.crt": await b64(crt) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
