-- The claim, step 3b (numbers locked by 3a): per number and limited state, the attempts inside
-- the state's window plus the number's leads leased right now (a lease is a call about to happen).
SELECT p.phone, lim.state, lim.n,
       (SELECT count(*) FROM dial_attempts a
        WHERE a.org_id = %(org)s AND a.phone = p.phone
          AND a.at > %(now)s::timestamptz - make_interval(secs => lim.win))
       + (SELECT count(*) FROM dial_queue o
          WHERE o.org_id = %(org)s AND o.phone = p.phone
            AND o.lease_expires_at IS NOT NULL AND o.lease_expires_at > %(now)s::timestamptz) AS used
FROM unnest(%(phones)s::text[]) AS p (phone),
     unnest(%(l_state)s::text[], %(l_max)s::int[], %(l_window)s::int[]) AS lim (state, n, win)
