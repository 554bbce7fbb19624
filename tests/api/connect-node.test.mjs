// Every BudgetService RPC through connect-node (@connectrpc/connect-node), a client nobody here
// wrote: gRPC straight to budget-service, gRPC-web through the gateway as the dashboard signs in
// (session cookie), and, from branch `connect` on, the gateway's Connect protocol (JSON, binary,
// GET), Bearer tokens on gRPC-web and plain gRPC through the gateway. Each client runs the whole
// table of rpcs.mjs on its own tenants, then an unknown tenant's NOT_FOUND is read back as
// budget.v1's ErrorInfo.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create, fromJson, toJsonString } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { connectClient, grpcClient, grpcWebClient, methods, sessionCookie } from "./clients.mjs";
import { assertCoversService, callEveryRpc, calls, seedFixture, uniqueId } from "./rpcs.mjs";
import { assertErrorInfo, serviceUrl, startStack } from "./stack.mjs";
import { BudgetService } from "./gen/budget/v1/budget_pb.js";

let stack;

before(async () => {
  stack = await startStack();
});
after(() => stack?.stop());

/**
 * The clients: budget-service directly and the browser's path (cookie), then the gateway's API
 * protocols with a Bearer token. Each has a platform admin token of
 * its own, so each has the whole write rate allowance of a token.
 */
async function clients() {
  const token = () => stack.createToken(uniqueId("connect-node"), "platform_admin");
  const auth = async () => ({ token: await token() });
  const cookie = await sessionCookie(stack.gateway_url, await token());
  return {
    now: [
      grpcClient(serviceUrl(stack), await auth()),
      grpcWebClient(stack.gateway_url, { cookie }, "connect-node grpc-web gateway (session cookie)"),
    ],
    viaGatewayApi: [
      connectClient(stack.gateway_url, await auth()),
      connectClient(stack.gateway_url, await auth(), { binary: true }),
      connectClient(stack.gateway_url, await auth(), { get: true }),
      grpcWebClient(stack.gateway_url, await auth(), "connect-node grpc-web gateway (Bearer)"),
      grpcClient(stack.gateway_url, await auth(), "connect-node grpc gateway (Bearer)"),
    ],
  };
}

test("the table in rpcs.mjs calls every RPC of the service descriptor", () => {
  assertCoversService();
});

test("every RPC through connect-node", async (t) => {
  const { now, viaGatewayApi } = await clients();
  for (const client of now) {
    await t.test(client.name, () => seedFixture(stack, "cn").then((fx) => callEveryRpc(client, fx)));
  }
  for (const client of viaGatewayApi) {
    await t.test(client.name, () =>
      seedFixture(stack, "cn").then((fx) => callEveryRpc(client, fx)),
    );
  }
});

test("an unknown tenant's NOT_FOUND carries ErrorInfo TENANT_NOT_FOUND over every transport", async (t) => {
  const { now, viaGatewayApi } = await clients();
  const tenantId = uniqueId("nobody");
  const check = (client) => async () => {
    const method = methods.get("GetBudgetStatus");
    const error = await client.call(method, create(method.input, { tenantId })).then(
      () => assert.fail("an unknown tenant answered"),
      (e) => e,
    );
    assertErrorInfo(error, Code.NotFound, "TENANT_NOT_FOUND", tenantId);
  };
  for (const client of now) await t.test(client.name, check(client));
  for (const client of viaGatewayApi) await t.test(client.name, check(client));
});

test("the gateway answers Connect GET for exactly the read-only RPCs", async () => {
  const readOnly = calls.filter((c) => c.readOnly).map((c) => c.method).sort();
  const marked = BudgetService.methods
    .filter((m) => m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS)
    .map((m) => m.name)
    .sort();
  assert.deepEqual(marked, readOnly, "idempotency_level = NO_SIDE_EFFECTS on exactly the read-only RPCs");

  // A plain GET as the Connect protocol spells it, without connect-node, for one of them.
  const fx = await seedFixture(stack, "get");
  const method = methods.get("GetBudgetConfig");
  const query = new URLSearchParams({
    connect: "v1",
    encoding: "json",
    message: toJsonString(method.input, create(method.input, { tenantId: fx.tenantId })),
  });
  const answer = await fetch(`${stack.gateway_url}/${BudgetService.typeName}/${method.name}?${query}`, {
    headers: { authorization: `Bearer ${stack.platform_token}` },
  });
  assert.equal(answer.status, 200, await answer.clone().text());
  assert.match(answer.headers.get("content-type"), /^application\/json/);
  const config = fromJson(method.output, await answer.json()).config;
  assert.equal(config.tenantId, fx.tenantId);

  // A method with side effects is not served over GET.
  const update = methods.get("UpdateBudgetConfig");
  const refused = await fetch(`${stack.gateway_url}/${BudgetService.typeName}/${update.name}?${query}`, {
    headers: { authorization: `Bearer ${stack.platform_token}` },
  });
  assert.notEqual(refused.status, 200);
});
