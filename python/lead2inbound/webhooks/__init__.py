"""Events out (docs/events.md): webhook endpoints and their signed deliveries.

`endpoints` (an org's endpoints in Postgres: URL checked by the outbound guard, event type
filter, secrets sealed with dnc/crypto.py's SecretBox, rotation with an overlap, replays,
attempts), `signing` (Standard Webhooks signatures), `delivery` (the delivery worker: fan-out of
the event log to endpoints, SKIP LOCKED leases, retries on the shared `RetryLoop`) and `listener`
(one LISTEN connection per worker that wakes the worker and the streams). Recording events is
store's (`store/events.py`). May import dnc and every layer below it; the web layer serves it.
"""
