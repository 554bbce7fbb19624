//! Opt-in: the LiteLLM client against a real LiteLLM proxy. Runs only when
//! LITELLM_E2E_URL and LITELLM_E2E_MASTER_KEY are set (e.g. the official container with a
//! database); otherwise each test says it was skipped and returns. It creates one key with a
//! unique alias and deletes it at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use budget_service::litellm::{KeyLimits, KeyStatus, LiteLlmClient, LiteLlmError};
use chrono::{Days, Utc};

fn real_proxy() -> Option<LiteLlmClient> {
    let (Ok(url), Ok(key)) = (
        std::env::var("LITELLM_E2E_URL"),
        std::env::var("LITELLM_E2E_MASTER_KEY"),
    ) else {
        eprintln!(
            "skipped: set LITELLM_E2E_URL and LITELLM_E2E_MASTER_KEY to run against a real LiteLLM proxy"
        );
        return None;
    };
    Some(LiteLlmClient::new(&url, &key, Duration::from_secs(15)).unwrap())
}

#[tokio::test]
async fn the_client_round_trips_a_key_through_a_real_proxy() {
    let Some(client) = real_proxy() else { return };
    let alias = format!("budget-e2e-{}", uuid::Uuid::new_v4().simple());
    let limits = KeyLimits {
        max_budget_micros: 55_000_000,
        soft_budget_micros: 40_000_000,
        budget_duration: Some("30d"),
    };
    let key = client.generate_key(&alias, "e2e", &limits).await.unwrap();
    assert!(key.raw_key.starts_with("sk-"));
    assert_eq!(key.key_hash, budget_e2e::key_hash(&key.raw_key));

    let result = async {
        let info = client.key_info(&key.key_hash).await?;
        assert_eq!(info.max_budget_micros, Some(55_000_000));
        assert_eq!(info.soft_budget_micros, Some(40_000_000));
        assert_eq!(info.status, KeyStatus::Active);
        assert!(
            info.budget_reset_at.is_some(),
            "LiteLLM computes the reset date"
        );

        let updated = KeyLimits {
            max_budget_micros: 66_000_000,
            soft_budget_micros: 48_000_000,
            budget_duration: None,
        };
        let after = client.update_key(&key.key_hash, &updated).await?;
        assert_eq!(after.max_budget_micros, Some(66_000_000));
        assert_eq!(
            after.budget_reset_at, info.budget_reset_at,
            "budget_duration not sent, period unchanged"
        );

        let today = Utc::now().date_naive();
        let days = client
            .daily_spend(
                &key.key_hash,
                today.checked_sub_days(Days::new(29)).unwrap(),
                today,
            )
            .await?;
        assert!(days.iter().all(|(_, spend)| *spend >= 0));
        Ok::<_, LiteLlmError>(())
    }
    .await;
    client.delete_key(&key.key_hash).await.unwrap();
    result.unwrap();
    let deleted = client.key_info(&key.key_hash).await.unwrap();
    assert_eq!(
        deleted.status,
        KeyStatus::Deleted,
        "the real proxy archives deleted keys"
    );
}
