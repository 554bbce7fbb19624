// The clients the API tests call BudgetService with, none of them written here: connect-node's
// Connect (JSON, binary, GET), gRPC-web and gRPC transports, and `buf curl` (Go's connect-go and
// protojson, with the schema from server reflection). Each client is `{ name, call(method,
// request) }`: `request` is a message of the method's input type, the answer one of its output
// type; a failed call throws a ConnectError with the status's code and details.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { fromJson, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { BudgetService } from "./gen/budget/v1/budget_pb.js";

const here = dirname(fileURLToPath(import.meta.url));
const bufBin = join(here, "node_modules", ".bin", "buf");

/** The service's methods by name, from the generated descriptor. */
export const methods = new Map(BudgetService.methods.map((m) => [m.name, m]));

/** `authorization: Bearer <token>` on every call. */
const bearer = (token) => (next) => (req) => {
  req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};

/** The session cookie a browser would send (the gateway's sign-in answer). */
const withCookie = (cookie) => (next) => (req) => {
  req.header.set("cookie", cookie);
  return next(req);
};

/**
 * Signs in at the gateway as a browser does (POST /session with the token) and returns the
 * session cookie to send, `name=value`.
 */
export async function sessionCookie(gatewayUrl, token) {
  const answer = await fetch(`${gatewayUrl}/session`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }),
    redirect: "manual",
  });
  if (answer.status !== 303) throw new Error(`sign-in answered ${answer.status}`);
  const cookie = answer.headers.getSetCookie()[0];
  if (!cookie) throw new Error("sign-in set no cookie");
  return cookie.split(";")[0];
}

/** A client over a connect-node transport. `auth` is `{ token }` (Bearer) or `{ cookie }`. */
function connectNodeClient(name, makeTransport, options, auth) {
  const interceptors = [auth.cookie ? withCookie(auth.cookie) : bearer(auth.token)];
  const client = createClient(BudgetService, makeTransport({ ...options, interceptors }));
  const lower = (method) => method.localName;
  return {
    name,
    call: (method, request) => client[lower(method)](request),
  };
}

/** connect-node's gRPC transport (HTTP/2 without TLS). */
export const grpcClient = (baseUrl, auth, name = `connect-node grpc ${baseUrl}`) =>
  connectNodeClient(name, createGrpcTransport, { baseUrl }, auth);

/** connect-node's gRPC-web transport (binary, HTTP/1.1). */
export const grpcWebClient = (baseUrl, auth, name = `connect-node grpc-web ${baseUrl}`) =>
  connectNodeClient(name, createGrpcWebTransport, { baseUrl, httpVersion: "1.1" }, auth);

/**
 * connect-node's Connect transport over HTTP/1.1: JSON, or binary with `binary`; with `get`,
 * methods marked NO_SIDE_EFFECTS go as HTTP GET.
 */
export function connectClient(baseUrl, auth, { binary = false, get = false } = {}) {
  const name = `connect-node connect ${binary ? "binary" : "json"}${get ? " get" : ""} ${baseUrl}`;
  return connectNodeClient(
    name,
    createConnectTransport,
    { baseUrl, httpVersion: "1.1", useBinaryFormat: binary, useHttpGet: get },
    auth,
  );
}

/**
 * A Connect unary call as plain HTTP (POST application/json), keeping the JSON the gateway sent
 * as `wireJson`: connect-node's JSON reader accepts more than proto3 JSON's canonical form (int64
 * as numbers, enums as numbers), so only the text itself shows what the gateway writes.
 */
export function connectJsonOnTheWire(baseUrl, token) {
  const client = {
    name: `HTTP POST application/json ${baseUrl} (the JSON as sent)`,
    wireJson: undefined,
    async call(method, request) {
      const answer = await fetch(`${baseUrl}/${method.parent.typeName}/${method.name}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: toJsonString(method.input, request),
      });
      const text = await answer.text();
      if (answer.status !== 200) throw new ConnectError(`HTTP ${answer.status}: ${text}`, Code.Unknown);
      client.wireJson = JSON.parse(text);
      return fromJson(method.output, client.wireJson);
    },
  };
  return client;
}

// ---------------------------------------------------------------------------
// buf curl.

/** Runs `buf curl`; resolves with {code, stdout, stderr} (code: the exit status). */
export function runBufCurl(args) {
  return new Promise((resolve, reject) => {
    execFile(bufBin, ["curl", ...args], { timeout: 30_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(error);
      else resolve({ code: error ? error.code : 0, stdout, stderr });
    });
  });
}

/** The gRPC code names buf curl prints, "not_found" -> Code.NotFound. */
const codeByName = new Map(
  Object.entries(Code)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [k.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase(), v]),
);

/**
 * A client that runs `buf curl --protocol <protocol> --http2-prior-knowledge` with the Bearer
 * token, the schema from the server's reflection (reached over the same protocol), and the
 * request as JSON. Each answer is kept as `lastJson` (the JSON buf printed), so tests compare it
 * with protobuf-es's JSON of the same message. A failure becomes a ConnectError from buf's
 * error JSON (code, message, details as `{type, value}`).
 */
export function bufCurlClient(baseUrl, protocol, token) {
  const client = {
    name: `buf curl --protocol ${protocol} ${baseUrl}`,
    lastJson: undefined,
    async call(method, request) {
      const { code, stdout, stderr } = await runBufCurl([
        "--protocol",
        protocol,
        "--http2-prior-knowledge",
        "--header",
        `authorization: Bearer ${token}`,
        "--reflect-header",
        "*",
        "--data",
        toJsonString(method.input, request),
        `${baseUrl}/${method.parent.typeName}/${method.name}`,
      ]);
      if (code === 0) {
        client.lastJson = JSON.parse(stdout);
        return fromJson(method.output, client.lastJson);
      }
      throw bufCurlError(code, stdout, stderr);
    },
  };
  return client;
}

/** buf curl's error output (a JSON object on stderr, exit code = gRPC code << 3) as a ConnectError. */
function bufCurlError(exitCode, stdout, stderr) {
  let parsed;
  try {
    parsed = JSON.parse(stderr);
  } catch {
    return new ConnectError(`buf curl failed (exit ${exitCode}): ${stderr}${stdout}`, Code.Unknown);
  }
  const code = codeByName.get(parsed.code) ?? Code.Unknown;
  const details = (parsed.details ?? []).map((d) => ({ type: d.type, value: Buffer.from(d.value, "base64") }));
  return new ConnectError(parsed.message ?? "", code, undefined, details);
}
