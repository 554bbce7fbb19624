// What the API test files share: the stack they call (tests/browser/stack.mjs: e2e-stack with
// PostgreSQL and litellm-sim), the mark of what needs the gateway's API surface from branch
// `connect`, and the check of budget.v1's ErrorInfo on a failed call.

import assert from "node:assert/strict";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

export { startStack } from "../browser/stack.mjs";

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
