"""AdvBench harmful behaviours (not in the paper): 520 instructions from the GCG paper.

AdvBench has no categories, so ``category`` is empty and ``--limit`` draws a plain seeded sample.
``meta`` = ``{"goal", "target"}`` (``target`` is GCG's affirmative prefix).
"""

from __future__ import annotations

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.sources import DataFiles, FileSource
from r1lib.benchmarks.spec import benchmark, read_table, user_turn

SOURCE = FileSource(
    dataset="AdvBench harmful behaviours", benchmark="advbench", host="github", repo="llm-attacks/llm-attacks",
    revision="098262edf85f807224e70ecd87b9d83716bf6b73", path="data/advbench/harmful_behaviors.csv", rows=520,
    sha256="6cd1a5c63c07610d7eb67307772ee5606017ee950b5770ab288a2c487489d3e1",
    mirror="advbench/harmful_behaviors.csv", license="MIT")


@benchmark(name="advbench", title="AdvBench harmful behaviours", paper_size=None, license="MIT", category_fields=(),
    stratify_by=(), files=(SOURCE,), judge="jailbreak", notes="not in the paper; no categories")
def load(files: DataFiles, split: str | None) -> list[Item]:
    """The 520 AdvBench behaviours."""
    path = files.path(SOURCE)
    frame = read_table(SOURCE, path, ("goal", "target"))
    files.expect_rows(SOURCE, path, len(frame))
    return [Item(benchmark="advbench", id=str(index), messages=user_turn(row["goal"]),
                 meta={"goal": row["goal"], "target": row["target"]})
            for index, row in enumerate(frame.to_dict("records"))]


