// Unit tests for the error translation in src/api.ts.
import "./window-stub";
import { test } from "node:test";
import assert from "node:assert/strict";
import { BadRequest, ErrorInfo } from "../src/gen/google/rpc/error_details";
import { Code, RpcError, type Detail } from "../src/rpc";
import { describeError, errorMetadata, errorReason, isCanceled, isKeyLost, violationsOf } from "../src/api";

/** An error as budget-service answers it: a code, a message and a google.rpc.ErrorInfo reason. */
function serviceError(message: string, code: Code, reason: string, metadata: Record<string, string> = {}): RpcError {
  return new RpcError(code, message, [errorInfo({ reason, domain: "budget.v1", metadata })]);
}

/** A google.rpc.ErrorInfo detail as the service sends it (a google.protobuf.Any). */
function errorInfo(info: Partial<ErrorInfo>): Detail {
  return { typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: ErrorInfo.encode(ErrorInfo.fromPartial(info)).finish() };
}

test("describeError gives one sentence per failure", () => {
  assert.equal(describeError(new RpcError(Code.NotFound, "tenant x"), "acme"), "Tenant acme not found");
  assert.equal(
    describeError(new RpcError(Code.FailedPrecondition, "LiteLLM key is missing"), "acme"),
    "LiteLLM key is missing",
  );
  assert.equal(
    describeError(new RpcError(Code.Aborted, "etag mismatch")),
    "This budget was changed by someone else. Reload to see the latest values.",
  );
  // What fetch() throws when the gateway cannot be reached.
  assert.equal(describeError(RpcError.from(new TypeError("Failed to fetch"))), "Cannot reach the budget service");
  assert.equal(describeError(new RpcError(Code.Unavailable, "upstream connect error")), "Cannot reach the budget service");
  assert.equal(describeError(new RpcError(Code.Unavailable, "budget-service is unavailable")), "Cannot reach the budget service");
  // The service was reached, but LiteLLM or its database failed: its own sentence says so.
  assert.equal(
    describeError(serviceError("LiteLLM unavailable; nothing was saved", Code.Unavailable, "LITELLM_WRITE_FAILED")),
    "LiteLLM unavailable; nothing was saved",
  );
  assert.equal(
    describeError(serviceError("Budget database unavailable; nothing was saved", Code.Unavailable, "DATABASE_UNAVAILABLE")),
    "Budget database unavailable; nothing was saved",
  );
  assert.equal(describeError(new RpcError(Code.Internal, "internal error")), "The budget service failed (Internal): internal error");
  assert.ok(!describeError(new Error("boom\n    at x (y.js:1:1)")).includes(" at "));
});

test("isCanceled spots aborted calls", () => {
  assert.equal(isCanceled(new RpcError(Code.Canceled, "")), true);
  assert.equal(isCanceled(new RpcError(Code.Unavailable, "")), false);
});

test("violationsOf maps google.rpc.BadRequest field violations to form fields", () => {
  const err = new RpcError(Code.InvalidArgument, "invalid", [
    {
      typeUrl: "type.googleapis.com/google.rpc.BadRequest",
      value: BadRequest.encode(BadRequest.fromPartial({
        fieldViolations: [
          { field: "config.max_budget_micros", description: "Max budget must be greater than $0" },
          { field: "config.alert_threshold_percent", description: "Alert threshold must be between 50% and 100%" },
          { field: "config.grace_threshold_percent", description: "Grace threshold must be between 100% and 150%" },
          { field: "config.budget_duration", description: "Budget period must be one of 30d, 60d, 90d" },
          { field: "tenant_id", description: "bad tenant" },
        ],
      })).finish(),
    },
  ]);
  assert.deepEqual(violationsOf(err), {
    fields: {
      maxBudget: "Max budget must be greater than $0",
      alertThreshold: "Alert threshold must be between 50% and 100%",
      graceThreshold: "Grace threshold must be between 100% and 150%",
      budgetDuration: "Budget period must be one of 30d, 60d, 90d",
    },
    other: ["bad tenant"],
  });
});

test("errors are told apart by their ErrorInfo reason, however the service words them", async (t) => {
  await t.test("a lost key, reworded, is still a lost key", () => {
    const lost = serviceError("Tenant acme's key went missing upstream", Code.FailedPrecondition, "KEY_LOST", {
      tenant_id: "acme",
      key_state: "deleted",
    });
    assert.equal(errorReason(lost), "KEY_LOST");
    assert.deepEqual(errorMetadata(lost), { tenant_id: "acme", key_state: "deleted" });
    assert.equal(isKeyLost(lost), true);
    // The old sentences alone no longer decide anything.
    assert.equal(isKeyLost(new RpcError(Code.FailedPrecondition, "The LiteLLM key of tenant acme was deleted in LiteLLM")), false);
    const expired = serviceError("The LiteLLM key of tenant acme is unknown to LiteLLM", Code.FailedPrecondition, "KEY_EXPIRED");
    assert.equal(isKeyLost(expired), false);
  });

  await t.test("the service's own UNAVAILABLE answers, reworded, are shown as sent", () => {
    for (const reason of ["LITELLM_UNAVAILABLE", "LITELLM_WRITE_FAILED", "DATABASE_UNAVAILABLE"]) {
      const reworded = `Upstream trouble (${reason.toLowerCase()}); try again shortly`;
      assert.equal(describeError(serviceError(reworded, Code.Unavailable, reason)), reworded);
    }
    // Today's sentence without the reason is what a proxy could say: the service was not reached.
    assert.equal(describeError(new RpcError(Code.Unavailable, "Budget data unavailable")), "Cannot reach the budget service");
    // A reason from another domain is not budget-service's.
    const foreign = new RpcError(Code.Unavailable, "Budget data unavailable", [
      errorInfo({ reason: "LITELLM_UNAVAILABLE", domain: "example.com" }),
    ]);
    assert.equal(errorReason(foreign), "");
    assert.equal(describeError(foreign), "Cannot reach the budget service");
  });

  await t.test("no details, no reason", () => {
    assert.equal(errorReason(new RpcError(Code.Internal, "x")), "");
    assert.equal(errorReason(new Error("boom")), "");
  });
});
