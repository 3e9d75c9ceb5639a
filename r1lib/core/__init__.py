"""The data model every room shares: records and verdicts, trace parsing, errors.

Knows nothing of configuration, storage, models or judges; imports only the standard library.
"""
