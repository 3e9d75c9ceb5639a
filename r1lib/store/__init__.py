"""Persistence: the SQLite store of generations and verdicts (with leases and the Batch API ledger),
its administration (merge, prune), the per-sample export and the export as Inspect eval logs.

Knows the data model only.
"""
