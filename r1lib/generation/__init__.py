"""Turning items into model outputs: the request runner, the solvers (single turn, phishing dialogue) and
the backends (OpenAI-compatible APIs and their Batch API, vLLM, transformers, recorded outputs, fakes).

Knows the data model, the configuration and the store it caches into; knows nothing of judges or reporting.
"""
