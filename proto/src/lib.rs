//! The public `budget.v1` API as Rust types: tonic clients and servers plus prost messages.
//! Both budget-service and the gateway depend on this crate and on nothing else of each other.

/// Generated code for `package budget.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("budget.v1");

    /// The encoded `FileDescriptorSet` of the API, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("budget_descriptor");
}

/// Shared by budget-service and the gateway beside the messages: request ids, code names, call counting.
pub mod wire;

/// The per-address throttle on failed authentications both sides use.
pub mod throttle;

pub use prost_types::Timestamp;
