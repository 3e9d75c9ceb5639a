"""Persistence: the SQLite store of generations and verdicts (with leases and the Batch API ledger),
its administration (merge, prune) and the per-sample export.

Knows the data model only.
"""
