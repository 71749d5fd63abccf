"""Dialing: the dial queue and when a lead may be called.

Owns the legal calling window by state and time zone (`calling_hours`, with its area-code table
`area_codes`), claims, leases, completions and releases on the dial queue (`queue`), and a stored
lead as the API shows it, with its `callable_at` (`leads`). It may import store, contract and
ops; never access, intake, dnc or web.
"""
