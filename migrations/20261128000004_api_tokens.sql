-- Who may call budget-service: bearer tokens, stored only as SHA-256 hashes.
CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   TEXT NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    role         TEXT NOT NULL CHECK (role IN ('platform_admin', 'tenant_admin', 'service')),
    tenant_id    TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    CHECK (role <> 'tenant_admin' OR tenant_id IS NOT NULL),
    CHECK (role <> 'platform_admin' OR tenant_id IS NULL)
);
