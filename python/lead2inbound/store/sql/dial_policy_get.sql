-- An org's retry policy (no row: the default).
SELECT retry_after_s, max_attempts, updated_at FROM dial_policies WHERE org_id = %(org)s
