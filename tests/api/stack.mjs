// What the API test files share: the stack they call (tests/browser/stack.mjs: e2e-stack with
// PostgreSQL and litellm-sim), the mark of what needs the gateway's API surface from branch
// `connect`, and the check of budget.v1's ErrorInfo on a failed call.

import assert from "node:assert/strict";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

export { startStack } from "../browser/stack.mjs";

/**
 * The reason tests of the gateway's Connect protocol, Bearer tokens, plain gRPC and reflection
 * are `todo` (they run and report, but do not fail the suite): the gateway serves these from
 * branch `connect` on. Set to `false` when that branch is merged.
 */
export const NEEDS_CONNECT_BRANCH = "the gateway gets Connect, Bearer tokens, gRPC and reflection in branch connect";

/** budget-service's own gRPC address as a URL. */
export const serviceUrl = (stack) => `http://${stack.grpc_addr}`;

/** Asserts a ConnectError carries budget.v1's ErrorInfo with `reason` (and the tenant). */
export function assertErrorInfo(error, code, reason, tenantId) {
  assert.equal(error?.code, code, `code of ${error}`);
  const infos = error.findDetails(ErrorInfoSchema);
  assert.equal(infos.length, 1, `one ErrorInfo in ${error}`);
  assert.equal(infos[0].domain, "budget.v1");
  assert.equal(infos[0].reason, reason);
  if (tenantId) assert.equal(infos[0].metadata.tenant_id, tenantId);
}
