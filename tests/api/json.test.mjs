// What the service returns over gRPC is what every other client reads: for each RPC whose
// answer does not change when asked again, the answer from budget-service over gRPC (connect-node)
// is compared with the same call through each other client, decoded (protobuf `equals`), and
// with the JSON buf curl prints. Every answer over gRPC also keeps the proto3 JSON mapping (int64
// as strings, enums by name, RFC 3339 Timestamps, decoding back to the same message), and the
// answers together show every message and enum type an answer can hold, alert deliveries too.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create, equals, toJson } from "@bufbuild/protobuf";
import {
  bufCurlClient,
  connectClient,
  connectJsonOnTheWire,
  grpcClient,
  grpcWebClient,
  methods,
  sessionCookie,
} from "./clients.mjs";
import { assertJsonMapping, assertJsonRoundTrip, collectTypes, typesInAnswers } from "./json.mjs";
import { assertCoversService, callEveryRpc, calls, requestOf, seedFixture, uniqueId } from "./rpcs.mjs";
import { serviceUrl, startStack } from "./stack.mjs";
import { DeliveryStatus, NotificationKind } from "./gen/budget/v1/budget_pb.js";

let stack;
/** One fixture per comparison test, each with an alert delivery that failed. */
const fixtures = {};

/**
 * budget-service over gRPC (connect-node) with a new platform admin token, which the compared
 * clients share (WhoAmI answers its name) and no other test uses (writes are rate limited per token).
 */
async function reference() {
  const token = await stack.createToken(uniqueId("json"), "platform_admin");
  return { token, client: grpcClient(serviceUrl(stack), { token }, "connect-node grpc budget-service") };
}

before(async () => {
  // Statuses stay cached for the whole file, so every client reads the same fetch_time.
  stack = await startStack({ cacheTtlSecs: 3600 });
  fixtures.now = await seedFixture(stack, "js");
  fixtures.viaGatewayApi = await seedFixture(stack, "jc");
  await withFailedDeliveries(Object.values(fixtures));
});
after(() => stack?.stop());

/**
 * Gives each fixture's tenant an alert with a delivery that has stopped changing: a Slack
 * target, an evaluation pass (e2e-stack's demo seeding runs one) that records an alert for the
 * tenant's 85 % spend with a delivery to it, then a new set of targets, which ends the pending
 * delivery as FAILED.
 */
async function withFailedDeliveries(fxs) {
  const { client } = await reference();
  const method = methods.get("SetNotificationTargets");
  const setTargets = (fx, description) =>
    client.call(
      method,
      create(method.input, {
        tenantId: fx.tenantId,
        targets: [{ kind: NotificationKind.SLACK, url: "https://hooks.invalid/slack", description }],
      }),
    );
  for (const fx of fxs) await setTargets(fx, "first");
  await stack.seedDemo();
  for (const fx of fxs) await setTargets(fx, "second");
}

/**
 * Calls every row of the table through the reference client, in order; rows that answer the
 * same again go through each of `clients` too, and their answers must equal the reference's.
 * Returns the reference's answers and the message and enum types the compared ones held.
 */
async function compareWithGrpc(reference, fx, clients) {
  const answers = [];
  const compared = new Set();
  for (const row of calls) {
    const method = methods.get(row.method);
    const request = requestOf(row, fx);
    const expected = await politely(() => reference.call(method, request));
    answers.push([method, expected]);
    if (!row.repeatable) continue;
    collectTypes(method.output, expected, compared);
    // Reads go to all clients at once; writes one after another, as they share a token's write rate.
    const got = row.readOnly
      ? await Promise.all(clients.map((client) => client.call(method, request)))
      : await sequentially(clients, (client) => politely(() => client.call(method, request)));
    for (const [i, client] of clients.entries()) {
      const answer = got[i];
      assert.ok(
        equals(method.output, answer, expected),
        `${row.method} through ${client.name} differs from gRPC:\n${JSON.stringify(toJson(method.output, answer))}\nvs\n${JSON.stringify(toJson(method.output, expected))}`,
      );
      if (client.lastJson !== undefined) {
        assert.deepEqual(client.lastJson, toJson(method.output, expected), `${row.method}: buf curl's JSON vs protobuf-es's`);
      }
      if (client.wireJson !== undefined) assertJsonMapping(method.output, client.wireJson);
    }
  }
  return { answers, compared };
}

/**
 * Makes a call as a well-behaved client does: this test's writes all go out under one token, so
 * on a fast machine they can outrun the token's write rate (5 a second, bursts of 20). A
 * RESOURCE_EXHAUSTED answer changed nothing, so the call is sent again after a pause, a few
 * times at most; any other error, or a fifth refusal, fails the test.
 */
async function politely(call) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const limited = err?.code === 8 || /resource_exhausted|Too many changes/i.test(String(err?.message ?? err));
      if (!limited || attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
}

async function sequentially(items, f) {
  const out = [];
  for (const item of items) out.push(await f(item));
  return out;
}

/**
 * Every message and enum type but the answers of the RPCs that change something each time
 * (Create, Delete, Rotate, ...): those hold nothing but types the compared answers hold too.
 */
const comparableTypes = () => {
  const once = new Set(calls.filter((c) => !c.repeatable).map((c) => methods.get(c.method).output.typeName));
  return [...typesInAnswers()].filter((type) => !once.has(type));
};

test("the table in rpcs.mjs calls every RPC of the service descriptor", () => {
  assertCoversService();
});

test("gRPC-web through the gateway and buf curl's gRPC read what gRPC returns; every answer keeps the JSON mapping", async () => {
  const { token, client } = await reference();
  const cookie = await sessionCookie(stack.gateway_url, token);
  const { answers, compared } = await compareWithGrpc(client, fixtures.now, [
    grpcWebClient(stack.gateway_url, { cookie }),
    bufCurlClient(serviceUrl(stack), "grpc", token),
  ]);

  const seen = new Set();
  for (const [method, answer] of answers) {
    assertJsonRoundTrip(method.output, answer);
    collectTypes(method.output, answer, seen);
  }
  const missing = [...typesInAnswers()].filter((type) => !seen.has(type));
  assert.deepEqual(missing, [], "every message and enum type an answer can hold was in an answer");
  const notCompared = comparableTypes().filter((type) => !compared.has(type));
  assert.deepEqual(notCompared, [], "every message and enum type was in an answer compared across clients");
  const alerts = answers.find(([m]) => m.name === "ListAlerts")[1].alerts;
  assert.ok(
    alerts.some((a) => a.deliveries.some((d) => d.status === DeliveryStatus.FAILED && d.kind === NotificationKind.SLACK)),
    "an alert with a failed delivery",
  );
});

test(
  "Connect JSON and binary and buf curl's three protocols through the gateway read what gRPC returns",
  async () => {
    const { token, client } = await reference();
    const { compared } = await compareWithGrpc(client, fixtures.viaGatewayApi, [
      connectClient(stack.gateway_url, { token }),
      connectClient(stack.gateway_url, { token }, { binary: true }),
      connectClient(stack.gateway_url, { token }, { get: true }),
      connectJsonOnTheWire(stack.gateway_url, token),
      bufCurlClient(stack.gateway_url, "connect", token),
      bufCurlClient(stack.gateway_url, "grpcweb", token),
      bufCurlClient(stack.gateway_url, "grpc", token),
    ]);
    assert.deepEqual(comparableTypes().filter((type) => !compared.has(type)), []);
  },
);

test(
  "every answer of the gateway's Connect JSON, as sent, keeps the proto3 JSON mapping",
  async () => {
    const token = await stack.createToken(uniqueId("wire"), "platform_admin");
    const client = connectJsonOnTheWire(stack.gateway_url, token);
    await callEveryRpc(client, await seedFixture(stack, "jw"), (row) =>
      assertJsonMapping(methods.get(row.method).output, client.wireJson),
    );
  },
);
