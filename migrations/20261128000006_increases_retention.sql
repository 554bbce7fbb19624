-- Temporary budget increases (at most one in force per tenant) and indexes for the daily
-- retention purge.

CREATE TABLE temporary_increases (
    tenant_id     TEXT PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    amount_micros BIGINT NOT NULL CHECK (amount_micros > 0 AND amount_micros <= 10000000000000),
    -- The evaluator puts the usual limits back on the key at or after this time and deletes the row.
    expire_time   TIMESTAMPTZ NOT NULL,
    reason        TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    granted_by    TEXT NOT NULL,
    granted_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX temporary_increases_expire_time ON temporary_increases (expire_time);

-- The purge deletes the oldest rows in small batches.
CREATE INDEX budget_alert_history_created_at ON budget_alert_history (created_at);
CREATE INDEX audit_events_created_at ON audit_events (created_at);
CREATE INDEX daily_spend_day ON daily_spend (day);
CREATE INDEX notification_deliveries_alert ON notification_deliveries (alert_id);
