// Unit tests for the gRPC-web client in src/rpc.ts, against a stand-in for fetch that answers
// as tonic-web does: a data frame and a trailer frame, or a trailers-only answer in the headers.
import "./window-stub";
import { test } from "node:test";
import assert from "node:assert/strict";
import { BudgetServiceDefinition, GetBudgetStatusRequest, GetBudgetStatusResponse, BudgetState } from "../src/gen/budget/v1/budget";
import { ErrorInfo } from "../src/gen/google/rpc/error_details";
import { Status } from "../src/gen/google/rpc/status";
import { Code, createClient, frame, RpcError, unframe } from "../src/rpc";
import { describeError, errorReason } from "../src/api";

interface Seen {
  url: string;
  headers: Headers;
  body: Uint8Array;
}

/** Replaces fetch for one test: records the request and answers with `answer`. */
function withFetch(answer: (seen: Seen, init: RequestInit) => Promise<Response> | Response): Seen[] {
  const seen: Seen[] = [];
  globalThis.fetch = async (url, init = {}) => {
    const s = { url: String(url), headers: new Headers(init.headers), body: init.body as Uint8Array };
    seen.push(s);
    return answer(s, init);
  };
  return seen;
}

function trailerFrame(lines: string): Uint8Array {
  const bytes = frame(new TextEncoder().encode(lines));
  bytes[0] = 0x80;
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const client = () =>
  createClient(BudgetServiceDefinition, {
    baseUrl: "http://gateway.test",
    timeoutMs: 5000,
    interceptors: [
      (next) => (call) => {
        call.header.set("traceparent", "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01");
        return next(call);
      },
    ],
  });

test("a call posts one gRPC-web frame of the generated request and decodes the answer", async () => {
  const seen = withFetch(() => {
    const status = GetBudgetStatusResponse.fromPartial({ status: { tenantId: "acme", spendMicros: 12_500_000n, state: BudgetState.WARNING } });
    const body = concat(frame(GetBudgetStatusResponse.encode(status).finish()), trailerFrame("grpc-status: 0\r\ngrpc-message: \r\n"));
    return new Response(body, { status: 200, headers: { "content-type": "application/grpc-web+proto" } });
  });
  const res = await client().getBudgetStatus({ tenantId: "acme" });
  assert.equal(res.status?.tenantId, "acme");
  assert.equal(res.status?.spendMicros, 12_500_000n);
  assert.equal(res.status?.state, BudgetState.WARNING);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.url, "http://gateway.test/budget.v1.BudgetService/GetBudgetStatus");
  assert.equal(seen[0]!.headers.get("content-type"), "application/grpc-web+proto");
  assert.equal(seen[0]!.headers.get("grpc-timeout"), "5000m");
  assert.match(seen[0]!.headers.get("traceparent") ?? "", /^00-0123/);
  const sent = unframe(seen[0]!.body).message!;
  assert.equal(seen[0]!.body[0], 0, "an uncompressed data frame");
  assert.deepEqual(GetBudgetStatusRequest.decode(sent), { tenantId: "acme" });
});

test("an error in the trailers carries its code, message and google.rpc.ErrorInfo", async () => {
  const status = Status.encode({
    code: Code.FailedPrecondition,
    message: "key lost",
    details: [
      {
        typeUrl: "type.googleapis.com/google.rpc.ErrorInfo",
        value: ErrorInfo.encode({ reason: "KEY_LOST", domain: "budget.v1", metadata: { tenant_id: "acme" } }).finish(),
      },
    ],
  }).finish();
  const bin = btoa(String.fromCharCode(...status)).replace(/=+$/, "");
  withFetch(
    () =>
      new Response(trailerFrame(`grpc-status: 9\r\ngrpc-message: The%20key%20of%20acme%20is%20gone\r\ngrpc-status-details-bin: ${bin}\r\n`), {
        status: 200,
      }),
  );
  const err = await client()
    .getBudgetStatus({ tenantId: "acme" })
    .then(() => assert.fail("resolved"), (e: unknown) => e);
  assert.ok(err instanceof RpcError);
  assert.equal(err.code, Code.FailedPrecondition);
  assert.equal(err.rawMessage, "The key of acme is gone");
  assert.equal(errorReason(err), "KEY_LOST");
});

test("a trailers-only answer (status in the headers) is an error too", async () => {
  withFetch(() => new Response(null, { status: 200, headers: { "grpc-status": "5", "grpc-message": "tenant not found" } }));
  const err = await client()
    .getBudgetStatus({ tenantId: "nope" })
    .catch((e: unknown) => e);
  assert.equal(RpcError.from(err).code, Code.NotFound);
  assert.equal(describeError(err, "nope"), "Tenant nope not found");
});

test("transport failures: unreachable, HTTP errors without a status, no status at all, aborted", async () => {
  withFetch(() => Promise.reject(new TypeError("Failed to fetch")));
  let err = await client().whoAmI({}).catch((e: unknown) => e);
  assert.equal(RpcError.from(err).code, Code.Unavailable);
  assert.equal(describeError(err), "Cannot reach the budget service");

  withFetch(() => new Response("bad gateway", { status: 502 }));
  err = await client().whoAmI({}).catch((e: unknown) => e);
  assert.equal(RpcError.from(err).code, Code.Unavailable);

  withFetch(() => new Response(new Uint8Array(), { status: 200 }));
  err = await client().whoAmI({}).catch((e: unknown) => e);
  assert.equal(RpcError.from(err).code, Code.Internal);

  withFetch((_seen, init) => new Promise((_, reject) => init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")))));
  const controller = new AbortController();
  const call = client().whoAmI({}, { signal: controller.signal }).catch((e: unknown) => e);
  controller.abort();
  assert.equal(RpcError.from(await call).code, Code.Canceled);
});

test("a truncated frame is refused, not half read", () => {
  const whole = frame(new Uint8Array([8, 1]));
  assert.throws(() => unframe(whole.subarray(0, 6)), (e: unknown) => RpcError.from(e).code === Code.Internal);
});

test("an early call is sent once and its answer goes to the first identical call", async () => {
  const seen = withFetch(() => new Response(trailerFrame("grpc-status: 5\r\ngrpc-message: gone\r\n"), { status: 200 }));
  const c = client();
  c.early.start("getBudgetStatus", { tenantId: "acme" });
  assert.equal(seen.length, 1, "sent at once");
  // A different request is not the early one.
  await c.getBudgetStatus({ tenantId: "globex" }).catch(() => {});
  assert.equal(seen.length, 2);
  // The same request takes the early answer (here a failure) without sending again.
  assert.equal(RpcError.from(await c.getBudgetStatus({ tenantId: "acme" }).catch((e: unknown) => e)).code, Code.NotFound);
  assert.equal(seen.length, 2);
  // Taken once: the next identical call is sent.
  await c.getBudgetStatus({ tenantId: "acme" }).catch(() => {});
  assert.equal(seen.length, 3);
  // Cleared: nobody gets a stale answer.
  c.early.start("getBudgetConfig", { tenantId: "acme" });
  c.early.clear();
  await c.getBudgetConfig({ tenantId: "acme" }).catch(() => {});
  assert.equal(seen.length, 5);
});
