//! The gateway over real sockets: a browser's view (reqwest speaking gRPC-web and fetching pages)
//! against a fake budget-service.
#![allow(clippy::unwrap_used)]

mod command_line;
mod connect;
mod exports;
mod grpc;
mod grpc_web;
mod helpers;
mod metrics;
mod sessions;
mod shutdown;
mod static_files;
