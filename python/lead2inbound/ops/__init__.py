"""Operations: what every layer leans on and nothing leans back.

Owns configuration from `L2I_*` variables (`config`), logging and the access log (`logs`),
Prometheus metrics and the per-process tally (`metrics`), and the embedded Postgres and Redis
servers of the default setup (`embedded`). It imports nothing else of the package.
"""
