-- The fleet overview: when the forecast expects each tenant to reach its budget.
--
-- Written by the evaluator with the rest of the tenant's status: the forecast's exhaustion
-- time (domain/forecast.rs), NULL when spend is not expected to reach the budget before the
-- reset (or the tenant is past it already). An older binary's upsert leaves the column as it
-- was, so during a rollout a run-out date may lag until a newer replica leads the evaluator.
ALTER TABLE tenant_status ADD COLUMN run_out_time TIMESTAMPTZ;

-- "Runs out before reset", soonest first: only the tenants with a date, in date order.
CREATE INDEX tenant_status_run_out ON tenant_status (run_out_time, tenant_id)
    WHERE run_out_time IS NOT NULL;
