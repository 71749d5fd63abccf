-- Every (org, number) on any suppression list: rebuilds the per-worker bloom hint at start.
SELECT org_id::text, phone FROM suppressions
