-- A page of the org's suppression list, newest first, keyset on (created_at, phone).
SELECT phone, reason, created_at
FROM suppressions
WHERE org_id = %(org)s
  AND (%(c_at)s::timestamptz IS NULL
       OR (created_at, phone) < (%(c_at)s::timestamptz, %(c_phone)s::text))
ORDER BY created_at DESC, phone DESC
LIMIT %(limit)s
