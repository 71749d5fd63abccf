"""Intake: from a posted body to a committed lead.

Owns decoding and validating a lead (`validation`, `forms` for form-encoded bodies, `csvimport`
for CSV files), the ordered gates that prepare it (`pipeline`), the suppression and seen-before
hints (`suppression_hint`), `Idempotency-Key` handling (`idempotency`) and the batched writer
that commits leads and answers each waiting request after the commit (`writer`). It may import
access (the writer decides rate-limit charges), dialing (calling hours), store, contract and ops;
never web or dnc.
"""
