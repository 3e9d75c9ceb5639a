"""What a reader sees: the paper's tables, figures and case studies, rendered with their uncertainty.

Builds on ``analysis``; knows nothing of how outputs were generated.
"""
