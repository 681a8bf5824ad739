import { clip } from "./dns.ts";

/**
 * A problem with one field of user input, worded as the Kubernetes API server and cert-manager
 * word theirs: `<field path>: Invalid value: "<value>": <why>`.
 */
export interface FieldError {
  field: string;
  value: string;
  detail: string;
}

export function fieldError(field: string, value: string, detail: string): FieldError {
  return { field, value, detail };
}

export function formatFieldError(e: FieldError): string {
  return `${e.field}: Invalid value: ${JSON.stringify(clip(e.value))}: ${e.detail}`;
}

export type Result<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T>(...errors: FieldError[]): Result<T> => ({ ok: false, errors });

/** The field path of an annotation, as kubectl explain and the API server name it. */
export const annotationField = (key: string): string => `metadata.annotations[${key}]`;

/** A hook request that cannot be understood: answered with HTTP 400, never with a guess. */
export class RequestError extends Error {
  override name = "RequestError";
}
