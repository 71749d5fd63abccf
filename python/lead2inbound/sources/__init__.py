"""Lead sources: vendors' own webhook payloads into leads (docs/lead-sources.md, "Sources").

`mapping` (bodies into documents, a mapping into the lead's shape), `presets` (one per vendor,
from its documented payload), `signatures` (webhook signatures over the raw body, constant time),
`store` (sources in Postgres, secrets sealed with dnc/crypto.py's SecretBox) and `facebook` (Lead
Ads: notifications kept, leads fetched from the Graph API by a retrier, then written through the
intake pipeline). May import dnc and every layer below it; the web layer serves it.
"""
