"""CyberSecEval textual prompt injection: 251 tests (196 direct / 55 indirect; 180 security / 71 logic).

As in CyberSecEval, ``test_case_prompt`` is the system message and ``user_input`` the user message
(this conflicts with R1's advice to avoid system prompts; the benchmark requires it). The judge
answers ``meta["judge_question"]`` about the response. ``category`` = ``{"injection_type":
direct|indirect, "risk_category": security|logic, "injection_variant": ...}`` (the file's
``security-violating`` / ``logic-violating`` are shortened).
"""

from __future__ import annotations

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.cyberseceval import cyberseceval_file
from r1lib.benchmarks.sources import DataFiles
from r1lib.benchmarks.spec import benchmark, read_json

SOURCE = cyberseceval_file("CyberSecEval prompt injection", "prompt-injection",
                           "prompt_injection/prompt_injection.json", rows=251,
                           sha256="069e4d5d36f6d19f972a3bbc65df840cc729354f89358a9031aeb44d95b18a9a")


@benchmark(name="prompt-injection", title="CyberSecEval prompt injection", paper_size=251, license="MIT",
    category_fields=("injection_type", "risk_category", "injection_variant"),
    stratify_by=("injection_type", "risk_category"), files=(SOURCE,), judge="prompt-injection")
def load(files: DataFiles, split: str | None) -> list[Item]:
    """The 251 prompt-injection tests, each a system + user conversation."""
    path = files.path(SOURCE)
    rows = read_json(SOURCE, path)
    files.expect_rows(SOURCE, path, len(rows))
    return [Item(benchmark="prompt-injection", id=str(row["prompt_id"]),
                 messages=[{"role": "system", "content": row["test_case_prompt"]},
                           {"role": "user", "content": row["user_input"]}],
                 category={"injection_type": row["injection_type"],
                           "risk_category": row["risk_category"].removesuffix("-violating"),
                           "injection_variant": row["injection_variant"]},
                 meta={"judge_question": row["judge_question"], "speaking_language": row["speaking_language"]})
            for row in rows]


