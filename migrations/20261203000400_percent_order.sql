-- ListTenants by percent used walks this index in either direction (percent, then tenant id,
-- both the same way), so its pages cost the same at 1,000,000 tenants as at 100. The index it
-- replaces ordered the tenant id against the percent, which no page order uses.
DROP INDEX tenant_status_percent_desc;
CREATE INDEX tenant_status_percent ON tenant_status (percent_used, tenant_id);
