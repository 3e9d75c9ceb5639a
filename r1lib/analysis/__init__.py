"""From verdicts to evidence: outcome frames and accounting, the paired claims behind the findings,
judge evidence, R1-vs-V3 pairing and the statistics (``stats``: pure functions over numpy and pandas).

Knows records and judges' label sets; draws nothing and writes no files.
"""
