-- Whose a delivery is: the tenant's ('tenant'), shown in that tenant's delivery log, or
-- the operator realm's ('operator'), such as a Lockbox engineer told of a decision: that
-- mail is queued, retried and logged like any other, but not in the tenant's log.
ALTER TABLE deliveries ADD COLUMN realm TEXT NOT NULL DEFAULT 'tenant';
