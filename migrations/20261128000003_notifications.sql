-- Alert notifications: each tenant's targets, and one delivery per (alert, target) that the
-- delivery worker polls, so a restart loses nothing. A delivery row is inserted in the same
-- transaction as its alert.

CREATE TABLE notification_targets (
    target_id   BIGSERIAL PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('webhook', 'slack')),
    -- May carry credentials (Slack's do): never returned by the API nor logged.
    url         TEXT NOT NULL CHECK (length(url) <= 2048),
    -- The HMAC key of a webhook target, kept as given because signing needs it; never returned.
    secret      TEXT,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when SetNotificationTargets drops the target; the row stays so that past
    -- deliveries still name it.
    removed_at  TIMESTAMPTZ,
    CHECK (kind <> 'webhook' OR secret IS NOT NULL)
);

CREATE INDEX notification_targets_tenant_active
    ON notification_targets (tenant_id, target_id) WHERE removed_at IS NULL;

CREATE TABLE notification_deliveries (
    delivery_id     BIGSERIAL PRIMARY KEY,
    alert_id        BIGINT NOT NULL REFERENCES budget_alert_history (alert_id) ON DELETE CASCADE,
    target_id       BIGINT NOT NULL REFERENCES notification_targets (target_id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    -- Attempts started; a claim counts one before sending, so a crash mid-send is counted.
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When a pending delivery is due; a claim moves it past the send timeout (a lease).
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Retries stop 24 hours after this.
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ,
    -- A few words on the last failure (e.g. "HTTP 503"); never a URL or a secret.
    last_error      TEXT,
    UNIQUE (alert_id, target_id)
);

-- The worker's poll: pending deliveries by due time.
CREATE INDEX notification_deliveries_due
    ON notification_deliveries (next_attempt_at) WHERE status = 'pending';

-- Pending deliveries of a target, failed when it is removed.
CREATE INDEX notification_deliveries_target_pending
    ON notification_deliveries (target_id) WHERE status = 'pending';

-- A summary of changes that are not budget settings (notification targets).
ALTER TABLE audit_events ADD COLUMN detail TEXT;
