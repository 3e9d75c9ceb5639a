"""Settings, the models registry, run profiles, typed YAML checks and plugins.

Reads YAML and the environment; knows nothing of generation, judging, storage or reporting.
"""
