//! Key lifecycle calls: a replacement key carrying the old one's spend, /key/regenerate
//! (enterprise only), /key/block and /key/unblock, /key/info with the key's alias, and the
//! keys carrying an alias.

use serde::Deserialize;

use super::wire::{GenerateResponse, KeyInfoResponse, sha256_hex};
use super::{KeyBudget, KeyLimits, LiteLlmClient, LiteLlmError, NewKey};
use crate::domain::money::micros_to_usd;

#[derive(Deserialize)]
struct AliasInfo {
    info: AliasRow,
}

#[derive(Deserialize)]
struct AliasRow {
    key_alias: Option<String>,
}

#[derive(Deserialize)]
struct AliasList {
    keys: Vec<AliasListed>,
}

#[derive(Deserialize)]
struct AliasListed {
    token: String,
    #[serde(default)]
    spend: f64,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A live key found by its alias.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AliasedKey {
    pub key_hash: String,
    pub spend_micros: i64,
    /// The `tenant_id` we put in the metadata of the keys we generate.
    pub tenant_id: Option<String>,
}

impl LiteLlmClient {
    /// Marks the proxy as licensed for enterprise features (LITELLM_ENTERPRISE).
    pub(crate) fn with_enterprise(mut self, enterprise: bool) -> LiteLlmClient {
        self.enterprise = enterprise;
        self
    }

    /// Whether /key/regenerate may be used.
    pub(crate) fn enterprise(&self) -> bool {
        self.enterprise
    }

    /// POST /key/generate for a tenant's replacement key: the limits (with `budget_duration`,
    /// so LiteLLM computes a fresh reset date), the old key's spend carried over with `spend`,
    /// and `blocked` when the tenant is suspended.
    pub(crate) async fn generate_replacement_key(
        &self,
        alias: &str,
        tenant_id: &str,
        limits: &KeyLimits,
        spend_micros: i64,
        blocked: bool,
    ) -> Result<NewKey, LiteLlmError> {
        let mut body = serde_json::json!({
            "key_alias": alias,
            "max_budget": micros_to_usd(limits.max_budget_micros),
            "soft_budget": micros_to_usd(limits.soft_budget_micros),
            "budget_duration": limits.budget_duration,
            "spend": micros_to_usd(spend_micros),
            "metadata": {"tenant_id": tenant_id},
        });
        if let (true, Some(map)) = (blocked, body.as_object_mut()) {
            map.insert("blocked".into(), true.into());
        }
        new_key(self.post_key_generate(alias, &body).await?)
    }

    /// POST /key/regenerate (enterprise licence): LiteLLM replaces the key's value in place,
    /// keeping its spend and limits; the old value stops working at once.
    pub(crate) async fn regenerate_key(
        &self,
        key_hash: &str,
        alias: &str,
    ) -> Result<NewKey, LiteLlmError> {
        let body = serde_json::json!({ "key": key_hash, "key_alias": alias });
        let request = self.http.post(self.url("/key/regenerate")).json(&body);
        let answer: GenerateResponse = self.send(request).await?;
        new_key(answer)
    }

    /// POST /key/block: LiteLLM refuses every call made with the key.
    pub(crate) async fn block_key(&self, key_hash: &str) -> Result<(), LiteLlmError> {
        self.set_blocked("/key/block", key_hash).await
    }

    /// POST /key/unblock.
    pub(crate) async fn unblock_key(&self, key_hash: &str) -> Result<(), LiteLlmError> {
        self.set_blocked("/key/unblock", key_hash).await
    }

    async fn set_blocked(&self, path: &str, key_hash: &str) -> Result<(), LiteLlmError> {
        let body = serde_json::json!({ "key": key_hash });
        let request = self.http.post(self.url(path)).json(&body);
        let _: serde_json::Value = self.send(request).await?;
        Ok(())
    }

    /// GET /key/info, with the key's alias.
    pub(crate) async fn key_info_with_alias(
        &self,
        key_hash: &str,
    ) -> Result<(KeyBudget, Option<String>), LiteLlmError> {
        let request = self
            .http
            .get(self.url("/key/info"))
            .query(&[("key", key_hash)]);
        let answer: serde_json::Value = self.send(request).await?;
        let alias = serde_json::from_value::<AliasInfo>(answer.clone())
            .map_err(|e| LiteLlmError::InvalidResponse(format!("undecodable key info: {e}")))?
            .info
            .key_alias;
        let info: KeyInfoResponse = serde_json::from_value(answer)
            .map_err(|e| LiteLlmError::InvalidResponse(format!("undecodable key info: {e}")))?;
        Ok((info.info.into_budget(self.clock.now())?, alias))
    }

    /// GET /key/list?key_alias=: the live keys whose alias is exactly `alias` (one page of
    /// 100 is plenty: LiteLLM keeps aliases unique).
    pub(crate) async fn keys_with_alias(
        &self,
        alias: &str,
    ) -> Result<Vec<AliasedKey>, LiteLlmError> {
        let request = self.http.get(self.url("/key/list")).query(&[
            ("key_alias", alias),
            ("return_full_object", "true"),
            ("size", "100"),
        ]);
        let answer: AliasList = self.send(request).await?;
        answer
            .keys
            .into_iter()
            .map(|key| {
                Ok(AliasedKey {
                    spend_micros: super::amount("spend", key.spend)?,
                    tenant_id: key
                        .metadata
                        .as_ref()
                        .and_then(|m| m.get("tenant_id"))
                        .and_then(|v| v.as_str())
                        .map(str::to_owned),
                    key_hash: key.token,
                })
            })
            .collect()
    }
}

/// The raw key and its hash; the hash is computed, as LiteLLM does, from the raw key.
fn new_key(answer: GenerateResponse) -> Result<NewKey, LiteLlmError> {
    if !answer.key.starts_with("sk-") {
        return Err(LiteLlmError::InvalidResponse(
            "generated key has an unexpected form".into(),
        ));
    }
    let key_hash = sha256_hex(&answer.key);
    if let Some(token) = answer.token.as_deref().or(answer.token_id.as_deref())
        && token != key_hash
    {
        return Err(LiteLlmError::InvalidResponse(
            "generated key does not match its hash".into(),
        ));
    }
    Ok(NewKey {
        raw_key: answer.key,
        key_hash,
    })
}
