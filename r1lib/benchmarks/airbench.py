"""AIR-Bench 2024: prompts over the 4-level AIR risk taxonomy, each with its category's judge prompt.

The paper used all 5,694 prompts (HF ``stanford-crfm/air-bench-2024``, config ``default``, split
``test``). When that file has been fetched (``r1lib data fetch airbench``) it is the default;
otherwise the loader falls back to the mirror's 632-prompt subset (every distinct prompt found in
the AIR-Bench repository's sample files: all 16 L2 and 43 L3 categories, 220 of 314 L4). The subset
is not a random sample, so benchmark-level numbers on it are not comparable to the paper; every
item then carries ``meta["subset"] = "mirror-632"``.

Splits: ``None`` (full set when fetched, else the subset), ``full`` (insist on the full set),
``subset`` (the mirror subset). Each item: one user turn; ``category`` = ``{"l2", "l3", "l4"}``
names; ``meta`` = ``{"cate_idx", "judge_prompt"}`` (the template from ``judge_prompt_final.csv``,
joined on ``cate-idx``, with ``{{QUESTION}}`` and ``{{ANSWER}}`` placeholders).
"""

from __future__ import annotations

from pathlib import Path

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.sources import DataFiles, FileSource
from r1lib.benchmarks.spec import benchmark, read_table, text_id, unique_ids, user_turn
from r1lib.core.errors import UserError

SUBSET_FLAG = "mirror-632"
COLUMNS = ("cate-idx", "l2-name", "l3-name", "l4-name", "prompt")

FULL = FileSource(
    dataset="AIR-Bench 2024 prompts (full)", benchmark="airbench", host="hf",
    repo="stanford-crfm/air-bench-2024", revision="47ea34a1a697ccb746f41142a1c3057c0cd723f7",
    path="air_2024.csv", sha256=None, rows=5694, mirror=None, license="CC-BY-4.0")
SUBSET = FileSource(
    dataset="AIR-Bench 2024 prompt subset (mirror)", benchmark="airbench", host="mirror", repo="",
    revision=None, path="prompts_subset.csv", rows=632, mirror="air-bench-2024/prompts_subset.csv",
    sha256="2e260167fb8bd0756bf8bbd93f8cab63beffe79712c4972f47fa99f4f4525638",
    license="CC-BY-4.0 (prompts from the AIR-Bench repository)")
JUDGE_PROMPTS = FileSource(
    dataset="AIR-Bench 2024 judge prompts", benchmark="airbench", host="github",
    repo="stanford-crfm/air-bench-2024", revision="a9299663174a7818c0e015e60ad11488e410d629",
    path="csv_eval/judge_prompt_final.csv", rows=314, mirror="air-bench-2024/judge_prompt_final.csv",
    sha256="b4f7d37bd62ab0166b24f71bc239d276af902a894519c3bf82155cf7d36f3d1d",
    license="CC-BY-4.0 (dataset); Apache-2.0 (repository)")


@benchmark(name="airbench", title="AIR-Bench 2024", paper_size=5694, license="CC-BY-4.0",
    category_fields=("l2", "l3", "l4"), stratify_by=("l2",), files=(SUBSET, JUDGE_PROMPTS), preferred=(FULL,),
    splits=("full", "subset"), judge="airbench",
    notes="without the full set (r1lib data fetch airbench) the mirror's 632-prompt subset is used; "
          "it is not a random sample")
def load(files: DataFiles, split: str | None) -> list[Item]:
    """AIR-Bench items for ``split`` (see the module docstring)."""
    if split == "subset":
        source, path = SUBSET, files.path(SUBSET)
    elif split == "full":
        source, path = FULL, files.path(FULL)
    else:
        full = files.local(FULL)
        source, path = (FULL, full) if full is not None else (SUBSET, files.path(SUBSET))
    judge_prompts = _judge_prompts(files)
    frame = read_table(source, path, COLUMNS)
    files.expect_rows(source, path, len(frame))
    items = []
    for row in frame.to_dict("records"):
        cate_idx = row["cate-idx"]
        if cate_idx not in judge_prompts:
            raise UserError(f"{source.dataset}: {path} has category {cate_idx!r}, which has no judge prompt "
                            f"in judge_prompt_final.csv; the two files do not belong together: fetch both again")
        meta = {"cate_idx": cate_idx, "judge_prompt": judge_prompts[cate_idx]}
        if source is SUBSET:
            meta["subset"] = SUBSET_FLAG
        items.append(Item(benchmark="airbench", id=f"{cate_idx}/{text_id(row['prompt'])}",
                          messages=user_turn(row["prompt"]),
                          category={"l2": row["l2-name"], "l3": row["l3-name"], "l4": row["l4-name"]},
                          meta=meta))
    return unique_ids(items)


def _judge_prompts(files: DataFiles) -> dict[str, str]:
    path: Path = files.path(JUDGE_PROMPTS)
    frame = read_table(JUDGE_PROMPTS, path, ("cate-idx", "judge_prompt"))
    files.expect_rows(JUDGE_PROMPTS, path, len(frame))
    return dict(zip(frame["cate-idx"], frame["judge_prompt"], strict=True))


