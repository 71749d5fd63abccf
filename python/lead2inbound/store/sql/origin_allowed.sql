-- A CORS preflight names an origin but no key: does any live key of the service allow it?
SELECT EXISTS (
    SELECT 1 FROM api_keys WHERE revoked_at IS NULL AND allowed_origins @> ARRAY[%s::text]
)
