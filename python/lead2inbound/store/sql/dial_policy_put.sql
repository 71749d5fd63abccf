-- Set an org's retry policy.
INSERT INTO dial_policies (org_id, retry_after_s, max_attempts, updated_at)
VALUES (%(org)s, %(delays)s::integer[], %(max)s, now())
ON CONFLICT (org_id) DO UPDATE
SET retry_after_s = EXCLUDED.retry_after_s, max_attempts = EXCLUDED.max_attempts,
    updated_at = EXCLUDED.updated_at
RETURNING updated_at
