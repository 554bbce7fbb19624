-- Delivery errors shown to tenants are coarse, so a notification target cannot be used to
-- probe what answers where: "receiver refused (HTTP 4xx)", "receiver failed (HTTP 5xx)",
-- "receiver unreachable". Errors stored before in finer words are rewritten the same way.
UPDATE notification_deliveries
SET last_error = CASE
    WHEN last_error ~ '^HTTP [34][0-9][0-9]$'
        THEN 'receiver refused (HTTP ' || substr(last_error, 6, 1) || 'xx)'
    WHEN last_error ~ '^HTTP 5[0-9][0-9]$' THEN 'receiver failed (HTTP 5xx)'
    ELSE 'receiver unreachable'
END
WHERE last_error ~ '^HTTP [0-9]+$'
   OR last_error IN ('timed out', 'could not connect', 'request failed');
