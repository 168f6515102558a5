-- The enforcement point's question, "which approved requests does this engineer have
-- in this tenant?", answered from one index entry instead of a scan of the tenant's
-- requests.

CREATE INDEX lockbox_requests_grant ON lockbox_requests (requester_id, tenant_id, status);
