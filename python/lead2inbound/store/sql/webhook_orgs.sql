-- The orgs with at least one enabled webhook endpoint: the delivery worker is woken only by
-- their events (webhooks/delivery.py).
SELECT DISTINCT org_id FROM webhook_endpoints WHERE enabled
