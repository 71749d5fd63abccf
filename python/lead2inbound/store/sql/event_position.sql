-- An event id of the caller's org and mode, as a log position (after=, Last-Event-ID).
SELECT xact, seq FROM events
WHERE org_id = %(org)s AND sandbox = %(sandbox)s AND event_id = %(event)s::uuid
