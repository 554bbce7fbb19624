// Unit tests for the error translation in src/api.ts.
import "./window-stub";
import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../src/gen/google/rpc/error_details_pb";
import { describeError, isCanceled, violationsOf } from "../src/api";

test("describeError gives one sentence per failure", () => {
  assert.equal(describeError(new ConnectError("tenant x", Code.NotFound), "acme"), "Tenant acme not found");
  assert.equal(
    describeError(new ConnectError("LiteLLM key is missing", Code.FailedPrecondition), "acme"),
    "LiteLLM key is missing",
  );
  assert.equal(
    describeError(new ConnectError("etag mismatch", Code.Aborted)),
    "This budget was changed by someone else. Reload to see the latest values.",
  );
  // What fetch() throws when the gateway cannot be reached.
  assert.equal(describeError(ConnectError.from(new TypeError("Failed to fetch"))), "Cannot reach the budget service");
  assert.equal(describeError(new ConnectError("upstream connect error", Code.Unavailable)), "Cannot reach the budget service");
  assert.equal(describeError(new ConnectError("budget-service is unavailable", Code.Unavailable)), "Cannot reach the budget service");
  // The service was reached, but LiteLLM or its database failed: its own sentence says so.
  assert.equal(
    describeError(new ConnectError("LiteLLM unavailable; nothing was saved", Code.Unavailable)),
    "LiteLLM unavailable; nothing was saved",
  );
  assert.equal(
    describeError(new ConnectError("Budget database unavailable; nothing was saved", Code.Unavailable)),
    "Budget database unavailable; nothing was saved",
  );
  assert.equal(describeError(new ConnectError("internal error", Code.Internal)), "The budget service failed (Internal): internal error");
  assert.ok(!describeError(new Error("boom\n    at x (y.js:1:1)")).includes(" at "));
});

test("isCanceled spots aborted calls", () => {
  assert.equal(isCanceled(new ConnectError("", Code.Canceled)), true);
  assert.equal(isCanceled(new ConnectError("", Code.Unavailable)), false);
});

test("violationsOf maps google.rpc.BadRequest field violations to form fields", () => {
  const err = new ConnectError("invalid", Code.InvalidArgument, undefined, [
    {
      desc: BadRequestSchema,
      value: {
        fieldViolations: [
          { field: "config.max_budget_micros", description: "Max budget must be greater than $0" },
          { field: "config.alert_threshold_percent", description: "Alert threshold must be between 50% and 100%" },
          { field: "config.grace_threshold_percent", description: "Grace threshold must be between 100% and 150%" },
          { field: "config.budget_duration", description: "Budget period must be one of 30d, 60d, 90d" },
          { field: "tenant_id", description: "bad tenant" },
        ],
      },
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
