//! UpdateBudgetConfig as the AIPs describe it, over a real tonic channel with litellm-sim:
//! the etag may come inside `config` (AIP-154) and `update_mask` replaces only the settings
//! it names (AIP-134), in our database and in the tenant's LiteLLM key alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::{Stack, config, field_violations};
use budget_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

const USD: i64 = 1_000_000;

/// UpdateBudgetConfig with every field the caller controls.
async fn update(
    stack: &Stack,
    config: pb::BudgetConfig,
    etag: &str,
    mask: Option<&[&str]>,
) -> Result<pb::BudgetConfig, tonic::Status> {
    stack
        .client()
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: "acme".into(),
            config: Some(config),
            etag: etag.into(),
            update_mask: mask.map(|paths| prost_types::FieldMask {
                paths: paths.iter().map(|path| path.to_string()).collect(),
            }),
        })
        .await
        .map(|answer| answer.into_inner().config.unwrap_or_default())
}

fn with_etag(config: pb::BudgetConfig, etag: &str) -> pb::BudgetConfig {
    pb::BudgetConfig {
        etag: etag.into(),
        ..config
    }
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

#[tokio::test]
async fn the_etag_inside_config_detects_a_concurrent_edit() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    let read = stack.config("acme").await.unwrap();

    let saved = update(
        &stack,
        with_etag(config(600, 80, 110, "30d"), &read.etag),
        "",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        saved.max_budget_micros,
        600 * USD,
        "a fresh etag in config is accepted"
    );
    assert_ne!(saved.etag, read.etag);

    let err = update(
        &stack,
        with_etag(config(900, 80, 110, "30d"), &read.etag),
        "",
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    assert_eq!(reason(&err), "ETAG_MISMATCH");
    assert_eq!(
        stack.config("acme").await.unwrap().max_budget_micros,
        600 * USD
    );
    assert_eq!(
        stack.sim().key(&created.virtual_key).unwrap().max_budget,
        Some(660.0),
        "LiteLLM keeps the limits of the update that won"
    );
    stack.stop().await;
}

#[tokio::test]
async fn two_different_etags_are_an_invalid_argument_and_change_nothing() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    let read = stack.config("acme").await.unwrap();

    let err = update(
        &stack,
        with_etag(config(900, 80, 110, "30d"), "something else"),
        &read.etag,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(reason(&err), "INVALID_ARGUMENT");
    let fields: Vec<String> = field_violations(&err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["etag"]);
    assert_eq!(stack.config("acme").await.unwrap(), read);
    assert_eq!(
        stack.sim().key(&created.virtual_key).unwrap().max_budget,
        Some(550.0)
    );

    let same = update(
        &stack,
        with_etag(config(900, 80, 110, "30d"), &read.etag),
        &read.etag,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        same.max_budget_micros,
        900 * USD,
        "the same etag twice is fine"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_mask_replaces_only_the_settings_it_names() {
    let stack = Stack::start().await;
    let created = stack
        .create_tenant_with("acme", config(500, 80, 110, "60d"))
        .await;
    let read = stack.config("acme").await.unwrap();

    // Only the grace threshold is named: the other fields sent (invalid ones included) are
    // ignored and keep their stored values.
    let sent = config(0, 10, 130, "7d");
    let saved = update(&stack, sent, &read.etag, Some(&["grace_threshold_percent"]))
        .await
        .unwrap();
    assert_eq!(saved.max_budget_micros, 500 * USD);
    assert_eq!(saved.alert_threshold_percent, 80);
    assert_eq!(saved.grace_threshold_percent, 130);
    assert_eq!(saved.budget_duration, "60d");
    assert_eq!(stack.config("acme").await.unwrap(), saved);

    let key = stack.sim().key(&created.virtual_key).unwrap();
    assert_eq!(key.max_budget, Some(650.0), "block amount = $500 x 130 %");
    assert_eq!(key.soft_budget, Some(400.0), "alert amount = $500 x 80 %");
    assert_eq!(key.budget_duration.as_deref(), Some("60d"));

    // Two fields at once, with the etag inside config.
    let saved = update(
        &stack,
        with_etag(config(800, 90, 0, ""), &saved.etag),
        "",
        Some(&["max_budget_micros", "alert_threshold_percent"]),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            saved.max_budget_micros,
            saved.alert_threshold_percent,
            saved.grace_threshold_percent,
            saved.budget_duration.as_str()
        ),
        (800 * USD, 90, 130, "60d")
    );
    let key = stack.sim().key(&created.virtual_key).unwrap();
    assert_eq!(key.max_budget, Some(1040.0), "block amount = $800 x 130 %");
    assert_eq!(key.soft_budget, Some(720.0), "alert amount = $800 x 90 %");
    stack.stop().await;
}

#[tokio::test]
async fn a_named_setting_is_still_validated() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    let read = stack.config("acme").await.unwrap();

    let err = update(
        &stack,
        config(500, 10, 110, "30d"),
        "",
        Some(&["alert_threshold_percent"]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let fields: Vec<String> = field_violations(&err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["config.alert_threshold_percent"]);
    assert_eq!(stack.config("acme").await.unwrap(), read);
    stack.stop().await;
}

#[tokio::test]
async fn an_unknown_mask_path_is_an_invalid_argument_naming_update_mask() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    let read = stack.config("acme").await.unwrap();

    for paths in [&["max_budget"][..], &["etag"], &["budget_duration", "*"]] {
        let err = update(&stack, config(900, 80, 110, "30d"), "", Some(paths))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{paths:?}: {err:?}");
        assert_eq!(reason(&err), "INVALID_ARGUMENT");
        let violations = field_violations(&err);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].0, "update_mask");
        assert!(!violations[0].1.is_empty());
    }
    assert_eq!(stack.config("acme").await.unwrap(), read);
    assert_eq!(
        stack.sim().key(&created.virtual_key).unwrap().max_budget,
        Some(550.0)
    );
    stack.stop().await;
}

#[tokio::test]
async fn no_mask_an_empty_one_or_a_star_replace_every_setting() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;

    let masks: [Option<&[&str]>; 3] = [None, Some(&[]), Some(&["*"])];
    for (step, mask) in (1i64..).zip(masks) {
        let budget = 500 + step * 100;
        let saved = update(&stack, config(budget, 70, 120, "30d"), "", mask)
            .await
            .unwrap();
        assert_eq!(
            (
                saved.max_budget_micros,
                saved.alert_threshold_percent,
                saved.grace_threshold_percent
            ),
            (budget * USD, 70, 120),
            "{mask:?}"
        );
        let key = stack.sim().key(&created.virtual_key).unwrap();
        assert_eq!(
            key.max_budget,
            Some((budget * 120 / 100) as f64),
            "{mask:?}"
        );
    }

    // Without a mask every field is required, as before masks existed.
    let err = update(&stack, config(0, 10, 10, ""), "", None)
        .await
        .unwrap_err();
    assert_eq!(field_violations(&err).len(), 4);
    stack.stop().await;
}
