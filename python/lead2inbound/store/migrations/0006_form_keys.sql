-- 0006: publishable form keys and CORS origins on API keys (docs/web-forms.md).
--
-- `kind` 'publishable' marks an `l2i_pk_...` key: safe to put in a web page, only the `write`
-- scope, only from its allowed origins, with a per-client-IP limit besides the key's own.
-- `allowed_origins` (any key) lists the web origins a browser may call the lead endpoints from
-- (exact `scheme://host[:port]`, no wildcards). The form endpoint's redirect targets live on the
-- key so a form cannot send its visitors anywhere else. Every column has a default or is
-- nullable: safe while the old code serves.
ALTER TABLE api_keys
    ADD COLUMN kind text NOT NULL DEFAULT 'secret' CHECK (kind IN ('secret', 'publishable')),
    ADD COLUMN allowed_origins text[] NOT NULL DEFAULT '{}',
    ADD COLUMN ip_rate_limit_per_minute integer
        CHECK (ip_rate_limit_per_minute BETWEEN 1 AND 1000000),
    ADD COLUMN success_url text CHECK (length(success_url) <= 2000),
    ADD COLUMN error_url text CHECK (length(error_url) <= 2000);

-- Preflights name an origin but no key: "does any live key allow this origin?"
CREATE INDEX api_keys_allowed_origins ON api_keys USING gin (allowed_origins)
    WHERE revoked_at IS NULL;
