"""Postgres, the single source of truth: pool, migrations, queries and the batched lead writer."""
