"""Tokens, prices, money spent, budgets and cost estimates before a run.

Reads the store and the configuration; never calls a model.
"""
