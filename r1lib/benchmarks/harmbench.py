"""HarmBench text behaviours (not in the paper): 400 = 200 standard, 100 contextual, 100 copyright.

Contextual behaviours are sent the way HarmBench builds its direct requests: the ContextString,
a ``---`` separator, then the behaviour. Splits: ``None`` = all 400, ``val`` (80), ``test`` (320).
``category`` = ``{"functional": standard|contextual|copyright, "semantic": ...}``; ``meta`` =
``{"goal": behaviour, "behavior_id", "context"}``. The upstream repository was not reachable when the
mirror was made; the files are verbatim copies kept in ``allenai/wildteaming``.
"""

from __future__ import annotations

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.sources import DataFiles, FileSource
from r1lib.benchmarks.spec import benchmark, read_table, user_turn

COLUMNS = ("Behavior", "FunctionalCategory", "SemanticCategory", "ContextString", "BehaviorID")


def _file(split: str, rows: int, sha256: str) -> FileSource:
    name = f"harmbench_behaviors_text_{split}.csv"
    return FileSource(dataset=f"HarmBench text behaviours ({split})", benchmark="harmbench", host="github",
                      repo="allenai/wildteaming", revision="0a94b909079cb6d59df2a6457251d0ff5bb6a026",
                      path=f"data/harmbench/{name}", sha256=sha256, rows=rows,
                      mirror=f"harmbench/behavior_datasets/{name}", license="MIT (HarmBench)")


FILES = {
    "all": _file("all", 400, "8d81accedd38eaaf8b760618622bb888417d1fd0c86eba65c427a16f1cbb4afc"),
    "val": _file("val", 80, "7bfaaa5e2b9b95002c89e2d33c019f58e9e8496e2fc65d368f1eeb8179e69534"),
    "test": _file("test", 320, "75d257b3e7428c52eb7b0154318f455af3e01b09a3794b5e2f3d36054f3c0e29"),
}


@benchmark(name="harmbench", title="HarmBench text behaviours", paper_size=None, license="MIT",
    category_fields=("functional", "semantic"), stratify_by=("semantic",), files=tuple(FILES.values()),
    splits=("val", "test"), judge="jailbreak", notes="not in the paper")
def load(files: DataFiles, split: str | None) -> list[Item]:
    """HarmBench behaviours of one split (all 400 by default)."""
    source = FILES[split or "all"]
    path = files.path(source)
    frame = read_table(source, path, COLUMNS)
    files.expect_rows(source, path, len(frame))
    items = []
    for row in frame.to_dict("records"):
        context = row["ContextString"].strip()
        prompt = f"{context}\n\n---\n\n{row['Behavior']}" if context else row["Behavior"]
        items.append(Item(benchmark="harmbench", id=row["BehaviorID"], messages=user_turn(prompt),
                          category={"functional": row["FunctionalCategory"], "semantic": row["SemanticCategory"]},
                          meta={"goal": row["Behavior"], "behavior_id": row["BehaviorID"], "context": context or None}))
    return items


