// Every BudgetService RPC through `buf curl` (the buf CLI, Go: connect-go and protojson), with
// the schema from server reflection, a Bearer token and HTTP/2 without TLS: gRPC straight to
// budget-service, and, from branch `connect` on, the Connect, gRPC-web and gRPC protocols against
// the gateway (which then serves reflection over all three). Each answer's JSON, as buf prints
// it, must be exactly protobuf-es's JSON of the same message.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create, toJson } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { bufCurlClient, methods, runBufCurl } from "./clients.mjs";
import { assertCoversService, callEveryRpc, seedFixture, uniqueId } from "./rpcs.mjs";
import { assertErrorInfo, serviceUrl, startStack } from "./stack.mjs";
import { BudgetService } from "./gen/budget/v1/budget_pb.js";

let stack;

before(async () => {
  stack = await startStack();
});
after(() => stack?.stop());

/** [base URL, protocol] pairs: budget-service itself (gRPC only), and the gateway in each protocol. */
const targets = () => ({
  now: [[serviceUrl(stack), "grpc"]],
  viaGatewayApi: ["connect", "grpcweb", "grpc"].map((protocol) => [stack.gateway_url, protocol]),
});

/**
 * Each [url, protocol] as a subtest of `t`, all at once (each on its own tenants and token; buf
 * curl spends most of its time starting and reflecting), `t` must allow concurrent subtests.
 */
function eachTarget(t, name, body) {
  const { now, viaGatewayApi } = targets();
  return Promise.all([
    ...now.map(([url, protocol]) => t.test(`${name}: ${protocol} ${url}`, () => body(url, protocol))),
    ...viaGatewayApi.map(([url, protocol]) =>
      t.test(`${name}: ${protocol} ${url}`, () => body(url, protocol)),
    ),
  ]);
}

test("the table in rpcs.mjs calls every RPC of the service descriptor", () => {
  assertCoversService();
});

test("reflection lists the descriptor's methods", { concurrency: true }, async (t) => {
  await eachTarget(t, "buf curl --list-methods", async (url, protocol) => {
    const { code, stdout, stderr } = await runBufCurl([
      "--protocol",
      protocol,
      "--http2-prior-knowledge",
      "--reflect-header",
      `authorization: Bearer ${stack.platform_token}`,
      "--list-methods",
      url,
    ]);
    assert.equal(code, 0, stderr);
    const listed = stdout
      .split("\n")
      .filter((line) => line.startsWith(`${BudgetService.typeName}/`))
      .sort();
    assert.deepEqual(listed, BudgetService.methods.map((m) => `${BudgetService.typeName}/${m.name}`).sort());
  });
});

test("every RPC through buf curl, its JSON exactly protobuf-es's", { concurrency: true }, async (t) => {
  await eachTarget(t, "every RPC", async (url, protocol) => {
    // A token of its own: the whole write rate allowance of a token for this run.
    const token = await stack.createToken(uniqueId("buf-curl"), "platform_admin");
    const client = bufCurlClient(url, protocol, token);
    const fx = await seedFixture(stack, "bc");
    await callEveryRpc(client, fx, (row, answer) => {
      const method = methods.get(row.method);
      assert.deepEqual(client.lastJson, toJson(method.output, answer), `${row.method}: buf's JSON vs protobuf-es's`);
    });
  });
});

test("an unknown tenant's NOT_FOUND carries ErrorInfo TENANT_NOT_FOUND", { concurrency: true }, async (t) => {
  const tenantId = uniqueId("nobody");
  await eachTarget(t, "GetBudgetStatus", async (url, protocol) => {
    const client = bufCurlClient(url, protocol, stack.platform_token);
    const method = methods.get("GetBudgetStatus");
    const error = await client.call(method, create(method.input, { tenantId })).then(
      () => assert.fail("an unknown tenant answered"),
      (e) => e,
    );
    assertErrorInfo(error, Code.NotFound, "TENANT_NOT_FOUND", tenantId);
  });
});
