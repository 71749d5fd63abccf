-- An endpoint's health after a round: a success ends its failing streak; a failure starts one;
-- a 410 Gone, or a streak older than the limit, disables it. Returns the endpoints disabled now.
WITH r AS (
    SELECT endpoint_id, bool_or(ok) AS ok, bool_or(gone) AS gone
    FROM unnest(%(ep)s::uuid[], %(ok)s::boolean[], %(gone)s::boolean[])
         AS t (endpoint_id, ok, gone)
    GROUP BY endpoint_id
)
UPDATE webhook_endpoints w
SET failing_since = CASE WHEN r.ok THEN NULL ELSE coalesce(w.failing_since, now()) END,
    enabled = w.enabled AND NOT (r.gone OR (NOT r.ok AND w.failing_since IS NOT NULL
              AND w.failing_since <= now() - make_interval(secs => %(limit)s))),
    disabled_reason = CASE WHEN NOT w.enabled THEN w.disabled_reason
                           WHEN r.gone THEN 'gone'
                           WHEN NOT r.ok AND w.failing_since IS NOT NULL
                                AND w.failing_since <= now() - make_interval(secs => %(limit)s)
                           THEN 'failing' END
FROM r
WHERE w.endpoint_id = r.endpoint_id
RETURNING w.org_id, w.endpoint_id, w.sandbox, w.url, w.enabled, w.disabled_reason,
          (SELECT NOT enabled FROM webhook_endpoints o WHERE o.endpoint_id = w.endpoint_id)
              AS was_disabled
