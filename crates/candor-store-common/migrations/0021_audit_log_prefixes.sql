-- Where each log is published beside the backup status site (and in its bucket):
-- log/<prefix>/, an unguessable prefix per tenant, told only to that tenant.
CREATE TABLE audit_log_prefixes (
    chain TEXT PRIMARY KEY,
    prefix TEXT NOT NULL UNIQUE
);
