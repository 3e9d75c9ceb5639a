"""StrongREJECT forbidden prompts (not in the paper): 313 prompts in 6 categories.

``category`` = ``{"category", "source"}`` (``source`` = where the prompt was collected); ``meta`` =
``{"goal"}``. The file is a verbatim third-party copy (``busycalibrating/AdversariaLLM``); its
license was not verified (upstream is believed to be MIT).
"""

from __future__ import annotations

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.sources import DataFiles, FileSource
from r1lib.benchmarks.spec import benchmark, read_table, user_turn

SOURCE = FileSource(
    dataset="StrongREJECT forbidden prompts", benchmark="strongreject", host="github",
    repo="busycalibrating/AdversariaLLM", revision="eaee0d37ae91778f8f845ebfbf92ff5dd94ab8d8",
    path="data/behavior_datasets/strongreject_dataset.csv", rows=313,
    sha256="4dd70357e4ff8b5d0ba5ebafecab5d6dd5633ce8046e3dd1c8bd93e64de44381",
    mirror="strongreject/strongreject_dataset.csv", license="not verified (upstream believed MIT)")


@benchmark(name="strongreject", title="StrongREJECT forbidden prompts", paper_size=None,
    license="not verified (believed MIT)", category_fields=("category", "source"), stratify_by=("category",),
    files=(SOURCE,), judge="jailbreak", notes="not in the paper")
def load(files: DataFiles, split: str | None) -> list[Item]:
    """The 313 StrongREJECT prompts."""
    path = files.path(SOURCE)
    frame = read_table(SOURCE, path, ("category", "source", "forbidden_prompt"))
    files.expect_rows(SOURCE, path, len(frame))
    return [Item(benchmark="strongreject", id=str(index), messages=user_turn(row["forbidden_prompt"]),
                 category={"category": row["category"], "source": row["source"]},
                 meta={"goal": row["forbidden_prompt"]})
            for index, row in enumerate(frame.to_dict("records"))]


