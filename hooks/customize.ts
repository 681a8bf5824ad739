import type { RequestHandler } from "express";
import type { Config } from "../lib/config.ts";
import { computeCustomize } from "../lib/engine.ts";
import { parseCustomizeRequest } from "../lib/request.ts";
import { sendJson } from "./body.ts";
import { markStage } from "./stages.ts";

/** POST /customize: which related objects Metacontroller sends with each sync of a namespace. */
export function customizeHandler(config: Config): RequestHandler {
  return (req, res) => {
    const request = parseCustomizeRequest(req.body);
    markStage(res, "validation");
    res.locals.namespace = request.namespace.metadata.name;
    const answer = computeCustomize(request, config);
    markStage(res, "engine");
    sendJson(res, answer);
  };
}
