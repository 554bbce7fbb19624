-- Spend per UTC day per model, from LiteLLM's daily activity (`breakdown.models`), kept with
-- the daily history so the tenant page can say which models the period's money went to and
-- the daily-spend CSV can split each day by model. At most MODELS_PER_DAY (see
-- domain/model_spend.rs) named models per tenant and day; the rest are summed in one row
-- whose model is '' (no real model name is empty), so a tenant calling thousands of model
-- names cannot grow the table without bound.
CREATE TABLE model_spend (
    tenant_id    TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    day          DATE NOT NULL,
    model        TEXT NOT NULL CHECK (length(model) <= 256),
    spend_micros BIGINT NOT NULL CHECK (spend_micros >= 0),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day, model)
);

-- The retention purge deletes by day, as for daily_spend.
CREATE INDEX model_spend_day ON model_spend (day);
