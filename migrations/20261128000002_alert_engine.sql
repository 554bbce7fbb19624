-- The alert evaluator's state: each tenant's latest status (for the fleet view) and its
-- daily spend (so charts and forecasts survive LiteLLM outages without re-reading 90 days).

CREATE TABLE tenant_status (
    tenant_id         TEXT PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    spend_micros      BIGINT NOT NULL,
    max_budget_micros BIGINT NOT NULL,
    percent_used      DOUBLE PRECISION NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('ok', 'warning', 'grace', 'blocked')),
    reset_time        TIMESTAMPTZ,
    fetch_time        TIMESTAMPTZ NOT NULL
);

CREATE INDEX tenant_status_percent_desc ON tenant_status (percent_used DESC, tenant_id);

CREATE TABLE daily_spend (
    tenant_id    TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    day          DATE NOT NULL,
    spend_micros BIGINT NOT NULL CHECK (spend_micros >= 0),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);

-- Set once the last 90 days were read from LiteLLM; afterwards each pass refreshes
-- yesterday and today only.
ALTER TABLE tenants ADD COLUMN history_loaded_at TIMESTAMPTZ;
