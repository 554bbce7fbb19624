-- Tenants, their budget settings, alert history and audit trail.
-- Money is BIGINT USD micros; times are TIMESTAMPTZ (UTC).

CREATE TABLE tenants (
    tenant_id    TEXT PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    display_name TEXT NOT NULL,
    key_alias    TEXT NOT NULL,
    -- sha256 of the LiteLLM virtual key (LiteLLM's `token`); the raw key is never stored.
    key_hash     TEXT NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX tenants_display_name_lower ON tenants (lower(display_name) text_pattern_ops);

CREATE TABLE tenant_configs (
    tenant_id               TEXT PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    max_budget_micros       BIGINT NOT NULL CHECK (max_budget_micros > 0 AND max_budget_micros <= 10000000000000),
    alert_threshold_percent INTEGER NOT NULL CHECK (alert_threshold_percent BETWEEN 50 AND 100),
    grace_threshold_percent INTEGER NOT NULL CHECK (grace_threshold_percent BETWEEN 100 AND 150),
    budget_duration         TEXT NOT NULL CHECK (budget_duration IN ('30d', '60d', '90d')),
    -- Bumped on every change; the etag is derived from it.
    version                 BIGINT NOT NULL DEFAULT 1,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The last budget_reset_at LiteLLM reported, so reads work without LiteLLM.
    budget_reset_at         TIMESTAMPTZ
);

CREATE TABLE budget_alert_history (
    alert_id          BIGSERIAL PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    alert_type        TEXT NOT NULL CHECK (alert_type IN ('threshold', 'budget_exceeded', 'blocked', 'projected_limit')),
    spend_micros      BIGINT NOT NULL,
    max_budget_micros BIGINT NOT NULL,
    percent           DOUBLE PRECISION NOT NULL,
    threshold_percent INTEGER NOT NULL,
    message           TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- (tenant, type, budget period, threshold amount): each alert at most once.
    dedupe_key        TEXT NOT NULL UNIQUE
);

-- Newest-first pages per tenant (keyset on created_at, alert_id).
CREATE INDEX budget_alert_history_tenant_newest
    ON budget_alert_history (tenant_id, created_at DESC, alert_id DESC);

CREATE TABLE audit_events (
    event_id   BIGSERIAL PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    old_config JSONB,
    new_config JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX audit_events_tenant_newest ON audit_events (tenant_id, created_at DESC, event_id DESC);
