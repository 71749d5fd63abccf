"""Privacy: erasure on request, the retention purge, and what either keeps (docs/privacy.md)."""
