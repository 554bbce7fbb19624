// The BudgetService client (gRPC-web on the page's own origin, src/rpc.ts) and the translation of
// its errors and timestamps into what the page shows.

import { BudgetServiceDefinition, type BudgetPreview } from "./gen/budget/v1/budget";
import { BadRequest, ErrorInfo } from "./gen/google/rpc/error_details";
import type { Timestamp } from "./gen/google/protobuf/timestamp";
import { Code, createClient, RpcError, type Interceptor } from "./rpc";
import { fieldForViolation, type FormErrors } from "./validation";

export { Code, RpcError };

/** Every call gives up after this long, so a hung backend shows an error instead of a spinner. */
const TIMEOUT_MS = 15_000;

/** The gateway's sign-in page, where an UNAUTHENTICATED answer sends the browser. */
export const SIGN_IN_PATH = "/signin";

let signingIn = false;

/**
 * UNAUTHENTICATED from any call means the session cookie is gone, expired or its token revoked:
 * the page can do nothing more, so the browser goes to the sign-in page (once). The error still
 * reaches the caller, which shows it until the browser has left.
 */
const signInWhenUnauthenticated: Interceptor = (next) => async (call) => {
  try {
    return await next(call);
  } catch (err) {
    if (RpcError.from(err).code === Code.Unauthenticated && !signingIn) {
      signingIn = true;
      window.location.assign(SIGN_IN_PATH);
    }
    throw err;
  }
};

/** Random lowercase hex of `bytes` bytes, for trace and span ids. */
function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A W3C `traceparent` naming a new trace and the view's own (unexported) span in it, sampled. */
function newTraceparent(): string {
  return `00-${randomHex(16)}-${randomHex(8)}-01`;
}

let viewTrace = newTraceparent();

/**
 * Starts a new trace for the view about to be shown. Every call until the next view carries the
 * same `traceparent`, so the gateway's spans for one page load (and the budget-service and
 * LiteLLM spans under them) form one trace in the operators' tracing backend.
 */
export function startViewTrace(): void {
  viewTrace = newTraceparent();
}

/** Puts the current view's trace context on every call. */
const inViewTrace: Interceptor = (next) => (call) => {
  call.header.set("traceparent", viewTrace);
  return next(call);
};

/**
 * One async function per BudgetService method, named as in the proto in lowerCamelCase:
 * `api.getBudgetStatus({ tenantId }, { signal })` resolves to the generated response message or
 * rejects with an RpcError.
 */
export const api = createClient(BudgetServiceDefinition, {
  baseUrl: window.location.origin,
  timeoutMs: TIMEOUT_MS,
  interceptors: [inViewTrace, signInWhenUnauthenticated],
});

/** A protobuf Timestamp as a Date; undefined when unset. */
export function toDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : undefined;
}

/** A Date as a protobuf Timestamp. */
export function timestampFromDate(date: Date): Timestamp {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1e6 };
}

/** Micros to dollars as a float, for the chart only (display text uses formatMoney). */
export function microsToNumber(micros: bigint): number {
  return Number(micros) / 1e6;
}

/** True for an aborted call: the page that made it is gone, so nobody should hear of it. */
export function isCanceled(err: unknown): boolean {
  return RpcError.from(err).code === Code.Canceled;
}

/** The `google.rpc.ErrorInfo` domain of budget-service's errors. */
export const ERROR_DOMAIN = "budget.v1";

/**
 * The reasons the page handles specially (budget-service's `ErrorCode`, listed in
 * proto/budget/v1/budget.proto). The page decides by these, never by message text.
 */
export const Reason = {
  KeyLost: "KEY_LOST",
  LitellmUnavailable: "LITELLM_UNAVAILABLE",
  LitellmWriteFailed: "LITELLM_WRITE_FAILED",
  DatabaseUnavailable: "DATABASE_UNAVAILABLE",
} as const;

/**
 * UNAVAILABLE answers that budget-service itself gives: it was reached, but LiteLLM or its
 * database failed, and its message says which (and, for a save, that nothing was saved).
 */
const SERVICE_UNAVAILABLE: ReadonlySet<string> = new Set([
  Reason.LitellmUnavailable,
  Reason.LitellmWriteFailed,
  Reason.DatabaseUnavailable,
]);

/** budget-service's reason for a failed call ("" when the answer carries none, e.g. a network failure). */
export function errorReason(err: unknown): string {
  const info = RpcError.from(err)
    .findDetails("google.rpc.ErrorInfo", ErrorInfo)
    .find((i) => i.domain === ERROR_DOMAIN);
  return info?.reason ?? "";
}

/** What budget-service says the error is about (e.g. tenant_id, key_state); empty when nothing. */
export function errorMetadata(err: unknown): Record<string, string> {
  const info = RpcError.from(err)
    .findDetails("google.rpc.ErrorInfo", ErrorInfo)
    .find((i) => i.domain === ERROR_DOMAIN);
  return info?.metadata ?? {};
}

/** True when LiteLLM no longer has the tenant's key (deleted there, or unknown to it). */
export function isKeyLost(err: unknown): boolean {
  return errorReason(err) === Reason.KeyLost;
}

/** The request never got an answer from the service (fetch failed, or the gateway said so). */
function isNetworkError(err: RpcError): boolean {
  return err.cause instanceof TypeError || err.code === Code.Unavailable;
}

/** What a tenant page says when the caller's token may not read that tenant. */
export function noAccessText(tenantId: string): string {
  return `You do not have access to tenant ${tenantId}.`;
}

export function errorCode(err: unknown): Code {
  return RpcError.from(err).code;
}

/** One sentence for any failed call about `tenantId`; never a stack trace. */
export function describeError(err: unknown, tenantId?: string): string {
  const e = RpcError.from(err);
  switch (e.code) {
    case Code.NotFound:
      return tenantId ? `Tenant ${tenantId} not found` : e.rawMessage || "Not found";
    case Code.FailedPrecondition:
    case Code.InvalidArgument:
      return e.rawMessage || "The request was refused";
    case Code.Aborted:
      return "This budget was changed by someone else. Reload to see the latest values.";
    case Code.PermissionDenied:
      return "You are not allowed to do this";
    case Code.Unauthenticated:
      return "Your session has ended. Sign in again.";
    case Code.DeadlineExceeded:
      return "The budget service did not answer in time";
    default:
      if (SERVICE_UNAVAILABLE.has(errorReason(e)) && e.rawMessage) return e.rawMessage;
      if (isNetworkError(e)) return "Cannot reach the budget service";
      return `The budget service failed (${Code[e.code] ?? e.code})${firstLine(e.rawMessage)}`;
  }
}

/** ": message" from the first line of a message, at most 200 characters; "" when empty. */
function firstLine(message: string): string {
  const line = message.split("\n", 1)[0]!.trim().slice(0, 200);
  return line ? `: ${line}` : "";
}

/** The google.rpc.BadRequest details of a failed call. */
export function badRequests(err: unknown): BadRequest[] {
  return RpcError.from(err).findDetails("google.rpc.BadRequest", BadRequest);
}

/** The server's google.rpc.BadRequest field violations, keyed by form field. */
export function violationsOf(err: unknown): { fields: FormErrors; other: string[] } {
  const fields: FormErrors = {};
  const other: string[] = [];
  for (const detail of badRequests(err)) {
    for (const v of detail.fieldViolations) {
      const field = fieldForViolation(v.field);
      if (field) fields[field] = v.description;
      else other.push(v.description || v.field);
    }
  }
  return { fields, other };
}

/** The fleet overview's figures: counts by state, totals, soonest run-outs (platform admins only). */
export function getFleetSummary(signal?: AbortSignal) {
  return api.getFleetSummary({}, { signal });
}

/** What `config` would mean for the tenant at the current rate (PreviewBudgetConfig); saves nothing. */
export async function previewBudgetConfig(
  tenantId: string,
  config: { maxBudgetMicros: bigint; alertThresholdPercent: number; graceThresholdPercent: number; budgetDuration: string },
  signal?: AbortSignal,
): Promise<BudgetPreview | undefined> {
  return (await api.previewBudgetConfig({ tenantId, config }, { signal })).preview;
}
