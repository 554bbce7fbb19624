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

/// The API's descriptors, decoded once from [`v1::FILE_DESCRIPTOR_SET`]: what converts
/// messages to and from the proto3 JSON mapping and tells which methods have no side effects.
pub fn descriptor_pool() -> &'static prost_reflect::DescriptorPool {
    static POOL: std::sync::LazyLock<prost_reflect::DescriptorPool> =
        std::sync::LazyLock::new(|| {
            prost_reflect::DescriptorPool::decode(v1::FILE_DESCRIPTOR_SET)
                .expect("the descriptor set compiled into this crate is valid")
        });
    &POOL
}
