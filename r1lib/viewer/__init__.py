"""Exploring traces: the JupyterLab browser widget and the static, paged HTML page of stored traces.

Reads the store; judges and generates nothing.
"""
