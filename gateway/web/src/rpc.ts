// A small gRPC-web client over fetch for the generated service table (src/gen, ts-proto):
// 5-byte frames, the status from trailers (or headers, for a trailers-only answer), and the
// google.rpc.Status of `grpc-status-details-bin` decoded with the generated codecs. The
// messages are the generated ones; this file only frames them and reads the answer's status.

import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { Status } from "./gen/google/rpc/status";

/** gRPC status codes (the names and numbers of google.rpc.Code). */
export enum Code {
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

/** A generated message's codec. */
export interface Codec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): T;
}

/** A message with fields left out (at any depth): they take their proto3 defaults. */
export type DeepPartial<T> = T extends bigint | string | number | boolean | undefined | Uint8Array
  ? T
  : T extends readonly (infer U)[]
    ? DeepPartial<U>[]
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> }
      : T;

/** A generated request message: its codec and the completion of a partial one. */
interface RequestCodec<T> extends Codec<T> {
  // The generated signature is generic (exact object types); any partial message fits it.
  fromPartial(object: any): T;
}

/** One error detail: a google.protobuf.Any (type URL and the message's bytes). */
export interface Detail {
  typeUrl: string;
  value: Uint8Array;
}

/** A failed call: its gRPC code, the service's message and the details of its google.rpc.Status. */
export class RpcError extends Error {
  constructor(
    readonly code: Code,
    readonly rawMessage: string,
    readonly details: readonly Detail[] = [],
    cause?: unknown,
  ) {
    super(`[${Code[code] ?? code}] ${rawMessage}`, { cause });
    this.name = "RpcError";
  }

  /** `err` as an RpcError (anything else becomes Unknown, with `err` as its cause). */
  static from(err: unknown): RpcError {
    if (err instanceof RpcError) return err;
    return new RpcError(Code.Unknown, err instanceof Error ? err.message : String(err), [], err);
  }

  /** The details of type `typeName` (e.g. "google.rpc.ErrorInfo"), decoded with `codec`. */
  findDetails<T>(typeName: string, codec: Codec<T>): T[] {
    const out: T[] = [];
    for (const d of this.details) {
      if (d.typeUrl.slice(d.typeUrl.lastIndexOf("/") + 1) !== typeName) continue;
      try {
        out.push(codec.decode(d.value));
      } catch {
        // An undecodable detail is left out, as if it were not there.
      }
    }
    return out;
  }
}

/** A generated method (ts-proto's generic definitions). */
interface MethodDef<I, O> {
  readonly name: string;
  readonly requestType: RequestCodec<I>;
  readonly responseType: Codec<O>;
}

/** A generated service definition: its full name and methods. */
export interface ServiceDef {
  readonly fullName: string;
  readonly methods: { readonly [key: string]: MethodDef<any, any> };
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** A call on its way: the headers may be changed by an interceptor. */
export interface Call {
  method: string;
  header: Headers;
}
export type Interceptor = (next: (call: Call) => Promise<unknown>) => (call: Call) => Promise<unknown>;

/**
 * One async function per method: `client.listTenants({ pageSize: 500 }, { signal })`. Fields left
 * out of the request (at any depth) take their proto3 defaults.
 */
export type Client<S extends ServiceDef> = {
  [K in keyof S["methods"]]: S["methods"][K] extends MethodDef<infer I, infer O>
    ? (request: DeepPartial<I>, options?: CallOptions) => Promise<O>
    : never;
};

/**
 * Calls started before the code that needs them has run (the page's first view, while WhoAmI is
 * still on its way): `start` sends one now; the first identical call (same method, same request
 * bytes) takes its answer instead of sending again; `clear` drops what nobody took.
 */
export interface EarlyCalls<S extends ServiceDef> {
  start<K extends keyof Client<S>>(method: K, request: Parameters<Client<S>[K]>[0]): void;
  clear(): void;
}

export interface TransportOptions {
  baseUrl: string;
  timeoutMs: number;
  interceptors?: Interceptor[];
}

/** HTTP status → gRPC code when an answer carries no grpc-status (gRPC's HTTP mapping). */
function codeFromHttp(status: number): Code {
  switch (status) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

/** The bytes of a base64 (standard or URL alphabet, padded or not) string. */
function fromBase64(text: string): Uint8Array {
  const plain = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  return Uint8Array.from(atob(plain + "=".repeat((4 - (plain.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

/** `grpc-message` is percent-encoded; a malformed one is shown as sent. */
function decodeMessage(text: string | null): string {
  if (!text) return "";
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The error a status describes, or undefined for OK (code 0). */
export function statusError(headers: Headers): RpcError | undefined {
  const raw = headers.get("grpc-status");
  if (raw === null) return undefined;
  const code = Number(raw);
  if (code === 0) return undefined;
  let message = decodeMessage(headers.get("grpc-message"));
  let details: Detail[] = [];
  const bin = headers.get("grpc-status-details-bin");
  if (bin) {
    try {
      const status = Status.decode(fromBase64(bin));
      details = status.details;
      message ||= status.message;
    } catch {
      // Undecodable details: the code and message still say what failed.
    }
  }
  return new RpcError(Number.isInteger(code) && code > 0 && code <= 16 ? code : Code.Unknown, message, details);
}

/** The gRPC-web trailer frame's "name: value" lines as headers. */
function parseTrailer(bytes: Uint8Array): Headers {
  const headers = new Headers();
  for (const line of new TextDecoder().decode(bytes).split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** A gRPC-web request body: one uncompressed data frame. */
export function frame(message: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** Reads a gRPC-web answer body: the one data frame's bytes and the trailers. */
export function unframe(body: Uint8Array): { message?: Uint8Array; trailer?: Headers } {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let message: Uint8Array | undefined;
  let trailer: Headers | undefined;
  for (let pos = 0; pos + 5 <= body.length; ) {
    const flags = body[pos]!;
    const length = view.getUint32(pos + 1);
    const end = pos + 5 + length;
    if (end > body.length) throw new RpcError(Code.Internal, "incomplete gRPC-web frame");
    if (flags & 0x01) throw new RpcError(Code.Internal, "compressed gRPC-web frames are not supported");
    const bytes = body.subarray(pos + 5, end);
    if (flags & 0x80) trailer = parseTrailer(bytes);
    else if (message === undefined) message = bytes;
    else throw new RpcError(Code.Unimplemented, "more than one message in a unary answer");
    pos = end;
  }
  return { message, trailer };
}

/** A client calling `service` with gRPC-web at `baseUrl`, and its early calls. */
export function createClient<S extends ServiceDef>(service: S, options: TransportOptions): Client<S> & { early: EarlyCalls<S> } {
  const client: Record<string, unknown> = {};
  const early = new Map<string, Promise<unknown>>();
  const keyOf = (name: string, body: Uint8Array) => `${name} ${body.join(",")}`;
  for (const [key, method] of Object.entries(service.methods)) {
    const url = `${options.baseUrl}/${service.fullName}/${method.name}`;
    const send = (body: Uint8Array<ArrayBuffer>, signal?: AbortSignal) => async (call: Call) => {
      const timer = new AbortController();
      const timeout = setTimeout(() => timer.abort(), options.timeoutMs);
      const stop = () => timer.abort();
      signal?.addEventListener("abort", stop);
      try {
        if (signal?.aborted) throw new RpcError(Code.Canceled, "the call was canceled");
        let res: Response;
        let bytes: Uint8Array;
        try {
          res = await fetch(url, { method: "POST", headers: call.header, body, signal: timer.signal });
          bytes = new Uint8Array(await res.arrayBuffer());
        } catch (err) {
          if (signal?.aborted) throw new RpcError(Code.Canceled, "the call was canceled", [], err);
          if (timer.signal.aborted) throw new RpcError(Code.DeadlineExceeded, "the call timed out", [], err);
          throw new RpcError(Code.Unavailable, err instanceof Error ? err.message : String(err), [], err);
        }
        const headerError = statusError(res.headers);
        if (headerError) throw headerError;
        if (res.status !== 200) throw new RpcError(codeFromHttp(res.status), `HTTP ${res.status}`);
        const { message, trailer } = unframe(bytes);
        const trailerError = trailer ? statusError(trailer) : undefined;
        if (trailerError) throw trailerError;
        if (!trailer?.has("grpc-status")) throw new RpcError(Code.Internal, "the answer has no gRPC status");
        if (!message) throw new RpcError(Code.Unimplemented, "the answer has no message");
        return method.responseType.decode(message);
      } finally {
        clearTimeout(timeout);
        signal?.removeEventListener("abort", stop);
      }
    };
    client[key] = (request: Record<string, unknown>, opts: CallOptions = {}) => {
      const body = frame(method.requestType.encode(method.requestType.fromPartial(request)).finish());
      const started = early.get(keyOf(method.name, body));
      if (started) {
        early.delete(keyOf(method.name, body));
        return started;
      }
      const header = new Headers({
        "content-type": "application/grpc-web+proto",
        "x-grpc-web": "1",
        "grpc-timeout": `${options.timeoutMs}m`,
      });
      let next: (call: Call) => Promise<unknown> = send(body, opts.signal);
      for (const interceptor of [...(options.interceptors ?? [])].reverse()) next = interceptor(next);
      return next({ method: method.name, header });
    };
  }
  const calls: EarlyCalls<S> = {
    start(key, request) {
      const method = service.methods[key as string]!;
      const body = frame(method.requestType.encode(method.requestType.fromPartial(request)).finish());
      const call = (client[key as string] as (r: unknown) => Promise<unknown>)(request);
      // Whoever takes it sees the failure; until then it is not an unhandled rejection.
      call.catch(() => {});
      early.set(keyOf(method.name, body), call);
    },
    clear: () => early.clear(),
  };
  return Object.assign(client as Client<S>, { early: calls });
}
