-- Tenant lifecycle: deletion (the row, its history, alerts and audit are kept; the id is never
-- reused), emergency suspension, and key rotation.

-- Set by DeleteTenant; a deleted tenant answers NOT_FOUND and is no longer evaluated.
ALTER TABLE tenants ADD COLUMN deleted_at TIMESTAMPTZ;
-- Set by SuspendTenant while its LiteLLM key is blocked; cleared by ResumeTenant.
ALTER TABLE tenants ADD COLUMN suspended_at TIMESTAMPTZ;
ALTER TABLE tenants ADD COLUMN suspend_reason TEXT CHECK (length(suspend_reason) <= 500);
-- How many times RotateTenantKey replaced the key; names the next alias tenant-<id>-<n>.
ALTER TABLE tenants ADD COLUMN key_rotations INTEGER NOT NULL DEFAULT 0 CHECK (key_rotations >= 0);
