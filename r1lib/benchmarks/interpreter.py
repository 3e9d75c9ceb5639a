"""CyberSecEval code-interpreter abuse: 500 prompts, 100 for each of 5 attack types.

Each item sends ``mutated_prompt`` as one user message (as CyberSecEval does);
``category`` = ``{"attack_type": ...}`` (the file stores a one-element list; a row with another
shape is reported as an error rather than guessed at).
"""

from __future__ import annotations

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.cyberseceval import cyberseceval_file
from r1lib.benchmarks.sources import DataFiles
from r1lib.benchmarks.spec import benchmark, read_json, user_turn
from r1lib.core.errors import UserError

SOURCE = cyberseceval_file("CyberSecEval interpreter", "interpreter", "interpreter/interpreter.json", rows=500,
                           sha256="1d3e7cd4dd94a436d96b6e689c13e4f3edf5418d680d0b485a3ea8bf4664840c")


@benchmark(name="interpreter", title="CyberSecEval code interpreter", paper_size=500, license="MIT",
    category_fields=("attack_type",), stratify_by=("attack_type",), files=(SOURCE,), judge="interpreter")
def load(files: DataFiles, split: str | None) -> list[Item]:
    """The 500 interpreter-abuse items."""
    path = files.path(SOURCE)
    rows = read_json(SOURCE, path)
    files.expect_rows(SOURCE, path, len(rows))
    items = []
    for index, row in enumerate(rows):
        attack_types = row["attack_type"]
        if not isinstance(attack_types, list) or len(attack_types) != 1:
            raise UserError(f"{SOURCE.dataset}: {path} row {index} has attack_type {attack_types!r}, "
                            "expected a one-element list; the file is not the pinned version")
        items.append(Item(benchmark="interpreter", id=str(index), messages=user_turn(row["mutated_prompt"]),
                          category={"attack_type": attack_types[0]}))
    return items


