//! Generated calls of every BudgetService RPC: each answers OK or a clear client error, and a
//! refused call changes nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;

use budget_e2e::Stack;
use budget_proto::v1 as pb;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use prost::Message;
use tonic::Code;

use crate::generators::{
    budget_config, key_hash, known_tenant, micros, mostly, page_token, small_int, target,
    tenant_id, text, timestamp,
};
use crate::harness::{CLIENT_ERRORS, Harness, MAX_REQUEST_BYTES};

/// One call of any BudgetService RPC with generated fields.
#[derive(Clone, Debug)]
pub(crate) enum Call {
    Status(pb::GetBudgetStatusRequest),
    GetConfig(pb::GetBudgetConfigRequest),
    Update(pb::UpdateBudgetConfigRequest),
    ListAlerts(pb::ListAlertsRequest),
    History(pb::GetSpendHistoryRequest),
    ListTenants(pb::ListTenantsRequest),
    Create(pb::CreateTenantRequest),
    ListAudit(pb::ListAuditEventsRequest),
    ListTargets(pb::ListNotificationTargetsRequest),
    SetTargets(pb::SetNotificationTargetsRequest),
    WhoAmI(pb::WhoAmIRequest),
    Delete(pb::DeleteTenantRequest),
    Rotate(pb::RotateTenantKeyRequest),
    Attach(pb::AttachTenantKeyRequest),
    Suspend(pb::SuspendTenantRequest),
    Resume(pb::ResumeTenantRequest),
    Increase(pb::GrantTemporaryIncreaseRequest),
    Export(pb::ExportTenantDataRequest),
}

impl Call {
    /// Reads never change anything, whatever they answer.
    pub(crate) fn is_read(&self) -> bool {
        matches!(
            self,
            Call::Status(_)
                | Call::GetConfig(_)
                | Call::ListAlerts(_)
                | Call::History(_)
                | Call::ListTenants(_)
                | Call::ListAudit(_)
                | Call::ListTargets(_)
                | Call::WhoAmI(_)
                | Call::Export(_)
        )
    }

    pub(crate) fn encoded_len(&self) -> usize {
        match self {
            Call::Status(r) => r.encoded_len(),
            Call::GetConfig(r) => r.encoded_len(),
            Call::Update(r) => r.encoded_len(),
            Call::ListAlerts(r) => r.encoded_len(),
            Call::History(r) => r.encoded_len(),
            Call::ListTenants(r) => r.encoded_len(),
            Call::Create(r) => r.encoded_len(),
            Call::ListAudit(r) => r.encoded_len(),
            Call::ListTargets(r) => r.encoded_len(),
            Call::SetTargets(r) => r.encoded_len(),
            Call::WhoAmI(r) => r.encoded_len(),
            Call::Delete(r) => r.encoded_len(),
            Call::Rotate(r) => r.encoded_len(),
            Call::Attach(r) => r.encoded_len(),
            Call::Suspend(r) => r.encoded_len(),
            Call::Resume(r) => r.encoded_len(),
            Call::Increase(r) => r.encoded_len(),
            Call::Export(r) => r.encoded_len(),
        }
    }

    /// Sends the call; only the status matters.
    pub(crate) async fn send(self, stack: &Stack) -> Result<(), tonic::Status> {
        let mut c = stack.client();
        match self {
            Call::Status(r) => c.get_budget_status(r).await.map(drop),
            Call::GetConfig(r) => c.get_budget_config(r).await.map(drop),
            Call::Update(r) => c.update_budget_config(r).await.map(drop),
            Call::ListAlerts(r) => c.list_alerts(r).await.map(drop),
            Call::History(r) => c.get_spend_history(r).await.map(drop),
            Call::ListTenants(r) => c.list_tenants(r).await.map(drop),
            Call::Create(r) => c.create_tenant(r).await.map(drop),
            Call::ListAudit(r) => c.list_audit_events(r).await.map(drop),
            Call::ListTargets(r) => c.list_notification_targets(r).await.map(drop),
            Call::SetTargets(r) => c.set_notification_targets(r).await.map(drop),
            Call::WhoAmI(r) => c.who_am_i(r).await.map(drop),
            Call::Delete(r) => c.delete_tenant(r).await.map(drop),
            Call::Rotate(r) => c.rotate_tenant_key(r).await.map(drop),
            Call::Attach(r) => c.attach_tenant_key(r).await.map(drop),
            Call::Suspend(r) => c.suspend_tenant(r).await.map(drop),
            Call::Resume(r) => c.resume_tenant(r).await.map(drop),
            Call::Increase(r) => c.grant_temporary_increase(r).await.map(drop),
            Call::Export(r) => c.export_tenant_data(r).await.map(drop),
        }
    }
}

/// Reads and lists, with every paging, filter and date field.
pub(crate) fn read_call() -> BoxedStrategy<Call> {
    prop_oneof![
        tenant_id().prop_map(|tenant_id| Call::Status(pb::GetBudgetStatusRequest { tenant_id })),
        tenant_id().prop_map(|tenant_id| Call::GetConfig(pb::GetBudgetConfigRequest { tenant_id })),
        (known_tenant(), small_int(), page_token()).prop_map(
            |(tenant_id, page_size, page_token)| {
                Call::ListAlerts(pb::ListAlertsRequest {
                    tenant_id,
                    page_size,
                    page_token,
                })
            }
        ),
        (known_tenant(), small_int()).prop_map(|(tenant_id, days)| Call::History(
            pb::GetSpendHistoryRequest { tenant_id, days }
        )),
        (
            small_int(),
            page_token(),
            text(),
            prop_oneof![
                Just("percent_used desc".to_owned()),
                Just("state".to_owned()),
                text()
            ],
            any::<bool>(),
            prop_oneof![0..=6i32, any::<i32>()]
        )
            .prop_map(
                |(page_size, page_token, filter, order_by, include_deleted, state)| {
                    Call::ListTenants(pb::ListTenantsRequest {
                        page_size,
                        page_token,
                        filter,
                        order_by,
                        include_deleted,
                        state,
                    })
                }
            ),
        (known_tenant(), small_int(), page_token()).prop_map(
            |(tenant_id, page_size, page_token)| {
                Call::ListAudit(pb::ListAuditEventsRequest {
                    tenant_id,
                    page_size,
                    page_token,
                })
            }
        ),
        tenant_id().prop_map(|tenant_id| {
            Call::ListTargets(pb::ListNotificationTargetsRequest { tenant_id })
        }),
        Just(Call::WhoAmI(pb::WhoAmIRequest {})),
        (known_tenant(), small_int(), text(), text()).prop_map(
            |(tenant_id, kind, start_date, end_date)| {
                Call::Export(pb::ExportTenantDataRequest {
                    tenant_id,
                    kind,
                    start_date,
                    end_date,
                })
            }
        ),
    ]
    .boxed()
}

/// Writes of settings, targets and increases.
pub(crate) fn write_call() -> BoxedStrategy<Call> {
    prop_oneof![
        (known_tenant(), budget_config(), mostly(Just(String::new()), prop_oneof![text(), Just("\"1\"".to_owned())])).prop_map(
            |(tenant_id, config, etag)| Call::Update(pb::UpdateBudgetConfigRequest {
                tenant_id,
                config,
                etag,
                update_mask: None,
            })
        ),
        (tenant_id(), mostly("\\PC{0,40}", text()), budget_config()).prop_map(|(tenant_id, display_name, config)| {
            Call::Create(pb::CreateTenantRequest {
                tenant_id,
                display_name,
                config,
            })
        }),
        (known_tenant(), prop_oneof![4 => prop::collection::vec(target(), 0..3), 1 => prop::collection::vec(target(), 0..12)]).prop_map(|(tenant_id, targets)| {
            Call::SetTargets(pb::SetNotificationTargetsRequest { tenant_id, targets })
        }),
        (
            known_tenant(),
            mostly(1i64..=1_000_000_000_000, micros()),
            timestamp(),
            mostly("[a-zA-Z][a-zA-Z0-9 ]{0,30}", text())
        )
            .prop_map(
            |(tenant_id, amount_micros, expire_time, reason)| {
                Call::Increase(pb::GrantTemporaryIncreaseRequest {
                    tenant_id,
                    amount_micros,
                    expire_time,
                    reason,
                })
            }
        ),
    ]
    .boxed()
}

/// Tenant lifecycle: delete, rotate, attach, suspend, resume.
pub(crate) fn lifecycle_call() -> BoxedStrategy<Call> {
    prop_oneof![
        1 => tenant_id().prop_map(|tenant_id| Call::Delete(pb::DeleteTenantRequest { tenant_id })),
        2 => tenant_id().prop_map(|tenant_id| Call::Rotate(pb::RotateTenantKeyRequest { tenant_id })),
        3 => (tenant_id(), key_hash())
            .prop_map(|(tenant_id, key_hash)| Call::Attach(pb::AttachTenantKeyRequest { tenant_id, key_hash })),
        3 => (tenant_id(), text())
            .prop_map(|(tenant_id, reason)| Call::Suspend(pb::SuspendTenantRequest { tenant_id, reason })),
        2 => tenant_id().prop_map(|tenant_id| Call::Resume(pb::ResumeTenantRequest { tenant_id })),
    ]
    .boxed()
}

/// The oracle for one call: a clear answer, a live service, and nothing stored unless the
/// call succeeded as a write.
pub(crate) async fn check(h: &Harness, call: Call) -> Result<Code, TestCaseError> {
    let before = h.snapshot().await;
    let oversized = call.encoded_len() > MAX_REQUEST_BYTES;
    let read = call.is_read();
    let answer = call.send(h.stack()).await;
    if let Err(status) = &answer {
        let expected = CLIENT_ERRORS.contains(&status.code())
            || (oversized && status.code() == Code::ResourceExhausted);
        prop_assert!(expected, "unexpected answer: {:?}", status);
    }
    if answer.is_err() || read {
        let after = h.snapshot().await;
        prop_assert!(
            before == after,
            "a refused call or a read changed stored state (answer {:?})\nbefore:\n{}\nafter:\n{}",
            answer,
            before,
            after
        );
    }
    h.assert_alive().await?;
    Ok(answer.err().map_or(Code::Ok, |status| status.code()))
}

/// Runs `cases` generated calls against one stack and returns how often each code came back,
/// so a test can show its inputs reached both sides of the validation.
pub(crate) fn run_calls(cases: u32, strategy: BoxedStrategy<Call>) -> BTreeMap<String, u32> {
    let h = Harness::start();
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    });
    let tally = Mutex::new(BTreeMap::new());
    let result = runner.run(&strategy, |call| {
        let code = h.rt.block_on(check(&h, call))?;
        *tally
            .lock()
            .unwrap()
            .entry(format!("{code:?}"))
            .or_insert(0) += 1;
        Ok(())
    });
    h.stop();
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let tally = tally.into_inner().unwrap();
    println!("answers: {tally:?}");
    tally
}

/// Both accepted and refused calls happened.
pub(crate) fn assert_both_sides(tally: &BTreeMap<String, u32>) {
    assert!(tally.contains_key("Ok"), "no call was accepted: {tally:?}");
    assert!(
        tally.contains_key("InvalidArgument"),
        "no call was refused: {tally:?}"
    );
}

#[test]
fn reads_and_lists_answer_clearly_and_change_nothing() {
    assert_both_sides(&run_calls(256, read_call()));
}

#[test]
fn bad_writes_are_refused_clearly_and_store_nothing() {
    assert_both_sides(&run_calls(256, write_call()));
}

#[test]
fn bad_lifecycle_calls_are_refused_clearly_and_store_nothing() {
    let tally = run_calls(192, lifecycle_call());
    assert!(tally.contains_key("InvalidArgument"), "{tally:?}");
}
