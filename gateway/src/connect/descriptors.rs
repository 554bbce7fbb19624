//! The schemas the Connect translation reads: budget-proto's descriptor set (the public API),
//! google.rpc's error details (for the `debug` form of error details) and gRPC reflection's own
//! messages (for reflection over Connect's JSON streams).

use std::sync::Arc;

use prost_reflect::{DescriptorPool, MessageDescriptor, MethodDescriptor};
use prost_types::method_options::IdempotencyLevel;

/// Every schema the gateway translates, decoded once at startup.
#[derive(Debug, Clone)]
pub(crate) struct Descriptors {
    pool: Arc<DescriptorPool>,
}

impl Descriptors {
    pub(crate) fn new() -> Self {
        let mut pool = budget_proto::descriptor_pool().clone();
        for set in [
            tonic_types::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ] {
            pool.decode_file_descriptor_set(set)
                .expect("the descriptor sets compiled into the gateway agree with each other");
        }
        Self {
            pool: Arc::new(pool),
        }
    }

    /// The method a path (`/package.Service/Method`) names, if the schemas know it.
    pub(crate) fn method(&self, path: &str) -> Option<MethodDescriptor> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        self.pool
            .get_service_by_name(service)?
            .methods()
            .find(|candidate| candidate.name() == method)
    }

    /// A message type by its full name (`google.rpc.ErrorInfo`).
    pub(crate) fn message(&self, full_name: &str) -> Option<MessageDescriptor> {
        self.pool.get_message_by_name(full_name)
    }
}

/// Whether the proto marks the method `option idempotency_level = NO_SIDE_EFFECTS;`, which
/// lets Connect clients call it with GET.
pub(crate) fn has_no_side_effects(method: &MethodDescriptor) -> bool {
    method
        .method_descriptor_proto()
        .options
        .as_ref()
        .is_some_and(|options| options.idempotency_level() == IdempotencyLevel::NoSideEffects)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_api_reflection_and_error_details() {
        let descriptors = Descriptors::new();
        let status = descriptors
            .method("/budget.v1.BudgetService/GetBudgetStatus")
            .unwrap();
        assert_eq!(
            status.input().full_name(),
            "budget.v1.GetBudgetStatusRequest"
        );
        assert!(has_no_side_effects(&status));
        let update = descriptors
            .method("/budget.v1.BudgetService/UpdateBudgetConfig")
            .unwrap();
        assert!(!has_no_side_effects(&update));
        assert!(
            descriptors
                .method("/budget.v1.BudgetService/Nope")
                .is_none()
        );
        assert!(
            descriptors
                .method("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
                .is_some()
        );
        assert!(descriptors.message("google.rpc.ErrorInfo").is_some());
    }
}
