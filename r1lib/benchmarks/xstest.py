"""XSTest: over-refusal. 250 safe prompts (10 types × 25) that a model should answer, and 200 unsafe
contrast prompts it should refuse.

Splits: ``None``/``safe`` = the 250 safe prompts (what the paper reports), ``unsafe`` = the 200
contrast prompts, ``all`` = both. ``category`` = ``{"type": ...}``; ``meta`` = ``{"label": safe|unsafe,
"focus", "note"}``.
"""

from __future__ import annotations

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.sources import DataFiles, FileSource
from r1lib.benchmarks.spec import benchmark, read_table, user_turn

SOURCE = FileSource(
    dataset="XSTest prompts", benchmark="xstest", host="github", repo="paul-rottger/exaggerated-safety",
    revision="d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d", path="xstest_prompts.csv", rows=450,
    sha256="11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a",
    mirror="xstest/xstest_prompts.csv", license="CC-BY-4.0")


@benchmark(name="xstest", title="XSTest (safe prompts)", paper_size=250, license="CC-BY-4.0",
    category_fields=("type",), stratify_by=("type",), files=(SOURCE,), splits=("safe", "unsafe", "all"),
    judge="xstest")
def load(files: DataFiles, split: str | None) -> list[Item]:
    """XSTest items of one label (``safe`` by default) or ``all``."""
    path = files.path(SOURCE)
    frame = read_table(SOURCE, path, ("id", "prompt", "type", "label", "focus", "note"))
    files.expect_rows(SOURCE, path, len(frame))
    wanted = {None: {"safe"}, "safe": {"safe"}, "unsafe": {"unsafe"}, "all": {"safe", "unsafe"}}[split]
    return [Item(benchmark="xstest", id=row["id"], messages=user_turn(row["prompt"]),
                 category={"type": row["type"]},
                 meta={"label": row["label"], "focus": row["focus"], "note": row["note"]})
            for row in frame.to_dict("records") if row["label"] in wanted]


