"""CyberSecEval MITRE: requests for help with cyber attacks, 100 per MITRE ATT&CK tactic (10 tactics).

The paper used ``mitre_benchmark_100_per_category_with_augmentation.json`` (1,000 LLM-augmented
prompts; the file's checksum is not pinned because no copy was available to hash). When that file
has been fetched (``r1lib data fetch mitre``) it is used; otherwise the loader reads the 1,000
*base* prompts of ``mitre_benchmark_100_per_category.json`` from the mirror, flagged with
``meta["source"] = "mitre-base"`` (augmented items carry ``"mitre-augmented"``). In the base file
30 rows have no usable prompt (23 lack ``user_prompt``, 7 are empty or ``#ERROR!``); they are
excluded, so the base set has 970 items.

Messages follow CyberSecEval's runner, which sends the test prompt as one user message with no
system prompt: ``mutated_prompt`` for the augmented file, ``user_prompt`` for the base file. The
base file's shared ``system_prompt`` ("You are an experienced cybersecurity analyst ...") is never
sent by CyberSecEval and is not sent here either (it also conflicts with R1's no-system-prompt
advice).

Splits: ``None`` = the paper-sized subset, 377 items drawn by a category-stratified sample with
seed 0 (the paper's 377 prompts are not known; every item carries ``meta["subset"] =
"stratified-377"``); ``full`` = every item. ``category`` = ``{"mitre_category": tactic}``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.cyberseceval import cyberseceval_file
from r1lib.benchmarks.sampling import stratified_sample
from r1lib.benchmarks.sources import DataFiles
from r1lib.benchmarks.spec import PAPER_SUBSET_SEED, benchmark, read_json, user_turn

PAPER_SUBSET = 377

BASE = cyberseceval_file("CyberSecEval MITRE base prompts", "mitre", "mitre/mitre_benchmark_100_per_category.json",
                         commit="9c7f7c51378ba39c99727be7033c8864167c5848", rows=1000,
                         sha256="9d19c9a38780022e27a91c78899a1203788d4d6d352bc252ff54e1efc87d11d4")
AUGMENTED = cyberseceval_file("CyberSecEval MITRE augmented prompts", "mitre",
                              "mitre/mitre_benchmark_100_per_category_with_augmentation.json",
                              sha256=None, rows=1000, in_mirror=False)


@benchmark(name="mitre", title="CyberSecEval MITRE", paper_size=PAPER_SUBSET, license="MIT",
    category_fields=("mitre_category",), stratify_by=("mitre_category",), files=(BASE,), preferred=(AUGMENTED,),
    splits=("full",), judge="mitre",
    notes="default = seeded stratified 377 (paper's subset unknown); without the augmented file "
          "(r1lib data fetch mitre) the base prompts are used (970 of 1,000 rows have a prompt)")
def load(files: DataFiles, split: str | None) -> list[Item]:
    """MITRE items: the 377-item stratified subset by default, every item with ``split="full"``."""
    augmented = files.local(AUGMENTED)
    items = _augmented_items(files, augmented) if augmented is not None else _base_items(files)
    if split == "full":
        return items
    subset = stratified_sample(items, PAPER_SUBSET, seed=PAPER_SUBSET_SEED, by=("mitre_category",))
    return [replace(item, meta={**item.meta, "subset": f"stratified-{PAPER_SUBSET}"}) for item in subset]


def _augmented_items(files: DataFiles, path: Path) -> list[Item]:
    rows = read_json(AUGMENTED, path)
    files.expect_rows(AUGMENTED, path, len(rows))
    return [Item(benchmark="mitre", id=f"aug-{index}", messages=user_turn(row["mutated_prompt"]),
                 category={"mitre_category": row["mitre_category"]},
                 meta={"source": "mitre-augmented", "base_prompt": row.get("base_prompt")})
            for index, row in enumerate(rows) if _usable(row.get("mutated_prompt"))]


def _base_items(files: DataFiles) -> list[Item]:
    path = files.path(BASE)
    rows = read_json(BASE, path)
    files.expect_rows(BASE, path, len(rows))
    return [Item(benchmark="mitre", id=f"base-{index}", messages=user_turn(row["user_prompt"]),
                 category={"mitre_category": row["category"]}, meta={"source": "mitre-base"})
            for index, row in enumerate(rows) if _usable(row.get("user_prompt"))]


def _usable(prompt: object) -> bool:
    """A row can be sent when its prompt is real text (the base file has blanks and ``#ERROR!``)."""
    return isinstance(prompt, str) and prompt.strip() not in ("", "#ERROR!")


