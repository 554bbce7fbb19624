//! Bad input, generated: every field of every BudgetService request filled with negative,
//! zero and extreme numbers, empty, huge, unicode and SQL-flavoured strings, crafted page
//! tokens and missing messages; malformed gRPC-web frames at the gateway; oversized messages;
//! random webhook bodies; generated Connect requests (JSON, binary, GET) at the gateway. Each answer must be OK or a clear client error, never INTERNAL or
//! UNKNOWN; the service must keep answering; and a refused call must change nothing in
//! PostgreSQL or in LiteLLM.
//!
//! Each test builds one runtime and one stack and drives proptest's runner from plain `#[test]`
//! functions, blocking on each generated call.
#![allow(clippy::unwrap_used, clippy::expect_used)]
//!
//! One module per part: `harness` (the stack and its observable state), `generators` (field
//! values), `calls` (generated calls of every RPC), `service` (inputs that once got through,
//! oversized messages), `webhooks` (the webhook receiver), `gateway` (raw gRPC-web bodies) and `connect` (Connect
//! requests at the gateway).

mod calls;
mod connect;
mod gateway;
mod generators;
mod harness;
mod service;
mod webhooks;
