// The HTTP floor of `npm run bench`: a bare node:http server, started like the hook server (same
// Node flags and environment, its own process), that reads a request's body to its end and answers
// ANSWER_BYTES bytes prepared once. Timed with the same client as the hook, it is what moving the
// request and the answer costs on this machine, with no Express, filter, parsing or engine.

import http from "node:http";

const answer = Buffer.alloc(Number(process.env.ANSWER_BYTES ?? 0), "x");
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    if (req.method === "GET") {
      // The bench's readiness probe.
      res.end("ok");
      return;
    }
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Content-Length", answer.length);
    res.end(answer);
  });
});
server.listen(Number(process.env.PORT), process.env.HOST ?? "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
