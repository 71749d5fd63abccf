-- The claim, step 3a: lock the numbers under a state attempt limit that this claim may hand out
-- (one transaction-scoped advisory lock per (org, phone), taken in phone order so claims cannot
-- deadlock). Claims holding a lock on the same number wait for each other; the count in step 3b
-- is a new statement, so it sees what the claim before it committed.
SELECT count(pg_advisory_xact_lock(26, hashtext(%(org)s::text || ':' || n.phone)))
FROM (SELECT DISTINCT p AS phone FROM unnest(%(phones)s::text[]) AS p ORDER BY 1) AS n
