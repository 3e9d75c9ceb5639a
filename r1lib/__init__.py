"""r1lib: generation, reasoning-trace parsing, judging and statistics for LRM safety evaluation.

The data path is: benchmark item -> messages -> backend -> raw output -> parse_trace -> generation
record (store) -> judge (per channel) -> verdict record (store) -> stats -> tables and figures.
"""

__version__ = "0.1.0"
