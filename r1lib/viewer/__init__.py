"""Exploring traces: the JupyterLab browser widget and the static HTML page of one trace.

Reads the store; judges and generates nothing.
"""
