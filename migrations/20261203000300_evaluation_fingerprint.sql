-- What the evaluator last evaluated a tenant from (LiteLLM's figures for the key, our
-- settings, increase, suspension, the UTC day and recent daily spend), written with the
-- status only once that evaluation's alerts were recorded. A pass whose inputs for the
-- tenant are the same skips its PostgreSQL work. Any other writer of the status clears it,
-- so the next pass evaluates the tenant in full.
ALTER TABLE tenant_status ADD COLUMN eval_fingerprint TEXT;
