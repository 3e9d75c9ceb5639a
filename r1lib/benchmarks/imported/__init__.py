"""Outputs made elsewhere (files, Inspect logs, lm-evaluation-harness samples) as normalised imported rows."""
