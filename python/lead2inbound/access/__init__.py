"""Access: who may call, and how often.

Owns API keys (`auth`: parsing, the per-process key ring, client addresses; `keystore`: creating,
listing and revoking keys and orgs), the Redis rate limiter with its in-process fallback
(`limits`) and the Redis broadcast that carries revocations and suppressions to every worker
(`broadcast`). It may import store, contract and ops; never intake, dialing, dnc or web.
"""
