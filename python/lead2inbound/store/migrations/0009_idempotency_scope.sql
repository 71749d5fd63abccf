-- 0009: Idempotency-Key records get a scope (docs/idempotency.md, docs/security.md).
--
-- Before, every key of an org shared one namespace per route: a public form key could poison
-- the Idempotency-Key a CRM's secret key was about to use (its real lead then got a 422), and a
-- sandbox key's record replayed to the live key (the live lead was never stored). A record now
-- belongs to `scope`: 'live:secret' or 'test:secret' for an org's secret keys of that mode, and
-- 'pk:<key id>' for one publishable key. Existing rows (at most 24 hours old, no key kind was
-- recorded) keep the scope 'legacy', which no request uses: they are only purged.
ALTER TABLE idempotency_keys ADD COLUMN scope text NOT NULL DEFAULT 'legacy';
ALTER TABLE idempotency_keys ALTER COLUMN scope DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (org_id, scope, route, idem_key);
