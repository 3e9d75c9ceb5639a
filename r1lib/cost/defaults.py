"""What a call is expected to cost when the store holds too few of a model's records: output lengths and
speeds by model family (:func:`family`), measured on published traces (pinned here) or stated as
assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass

from r1lib.benchmarks.sources import FileSource
from r1lib.config.settings import ModelConfig

#: The model families.
VISIBLE, HIDDEN, CHAT = "visible reasoning", "hidden reasoning", "chat"


@dataclass(frozen=True)
class Lengths:
    """Expected tokens of one output: its thinking and answer texts (what a judge reads), what the
    provider bills (thinking, hidden reasoning and answer), and where the numbers come from."""

    thinking: float
    answer: float
    billed: float
    source: str


@dataclass(frozen=True)
class Speed:
    """Seconds to the first token and tokens per second of one call, and where they come from."""

    first_token_s: float
    tokens_per_s: float
    source: str

    def seconds(self, output_tokens: float) -> float:
        """Expected duration of a call writing ``output_tokens``."""
        return self.first_token_s + output_tokens / self.tokens_per_s


def _trace_source(dataset: str, repo: str, revision: str, path: str, sha256: str, mirror: str) -> FileSource:
    """A pinned file of published traces that :data:`DEFAULT_LENGTHS` were measured on."""
    return FileSource(dataset=dataset, benchmark="estimate-defaults", host="github", repo=repo, revision=revision,
                      path=path, sha256=sha256, rows=None, mirror=mirror, license="see the mirror's MANIFEST.md")


#: The traces behind DEFAULT_LENGTHS (also the lengths perf/paper_scale.py draws from).
STAR1 = _trace_source("STAR-1", "UCSC-VLAA/STAR-1", "b49333598887845f148ed1b4d2576dc2bff7581a", "data/STAR-1.json",
                      "cfff9b23307914ecf8a94a1d5526f71f7144fcfc5f651741bea1ac41b3184db4", "star-1/STAR-1.json")


SAFEKEY = [_trace_source(f"SafeKey {name}", "eric-ai-lab/SafeKey", "8a03a94729fd5f592cb9747112c14713332edeb8",
                         f"benchmark/safe_benchmark/datasets/advbench_prefilling/{name}", sha,
                         f"safekey-r1-distill-harmful-traces/{name}")
           for name, sha in (("harmful_r1_7b_gptjudge.csv",
                              "13cac24f929abf2bff85a505523be3d7f46b500aaacd4cc9f0dc7acbd814eb74"),
                             ("harmful_r1_8b.csv", "62b0f20b710e30bab0f30ae3345230cc50ad90bbb162e72e9a63e498b20bdc6e"))]


#: GPT-4-Turbo's and Llama-3-8B's answers to AIR-Bench prompts, by file name.
AIRBENCH_ANSWERS = {name: _trace_source(f"AIR-Bench {name}", "stanford-crfm/air-bench-2024",
                                        "6d1d4a24d8350e4360e5763463f10233efa4b2a2", f"evaluation/{name}", sha,
                                        f"air-bench-2024/sample_responses/evaluation/{name}")
                    for name, sha in (("pipeline1_step2_Llama-3-8b_result.json",
                                       "11b9827afd6792e136280f36a13d86fac3386c8cf9fb91f2f09ef621e8cbbdab"),
                                      ("pipeline2_step2_gpt-4-turbo_result.csv",
                                       "bd5cb761c7912ded46a5fb0e523b15d608f65351c9fde747d282be3fe2416cc0"))}


#: Output lengths by family when the store has too few records (o200k tokens). Reasoning models
#: showing their thinking: the mean of two sets of real traces' means — STAR-1 (UCSC-VLAA/STAR-1@b4933359,
#: data/STAR-1.json: 1,000 DeepSeek-R1 traces on harmful prompts, all refusal-style; thinking 254.9,
#: answer 89.8) and SafeKey (eric-ai-lab/SafeKey@8a03a947, harmful_r1_7b_gptjudge.csv and
#: harmful_r1_8b.csv: 351 R1-distill traces that complied; thinking 581.8, answer 355.3). Chat models:
#: the mean of GPT-4-Turbo's (263.2) and Llama-3-8B's (135.4) answers to 80 AIR-Bench prompts each
#: (stanford-crfm/air-bench-2024@6d1d4a24, evaluation/pipeline*_step1_*). Hidden reasoning (o3-mini):
#: no traces are available; assumed to think as long as the visible reasoners and answer as the chat
#: models. tests/test_estimate.py recomputes the measured numbers from the data mirror.
DEFAULT_LENGTHS = {
    VISIBLE: Lengths(418.4, 222.6, 641.0, "default: R1 traces of STAR-1 and SafeKey (see r1lib/cost/defaults.py)"),
    HIDDEN: Lengths(0.0, 199.3, 617.7, "default: assumed (reasoning as R1's thinking, answer as chat models)"),
    CHAT: Lengths(0.0, 199.3, 199.3, "default: GPT-4-Turbo and Llama-3-8B answers to AIR-Bench prompts"),
}


#: Speeds by family when the store has too few records: assumptions, not measurements. R1 through
#: serverless providers streams at 20–60 tokens/s (the figure this project's streaming work planned
#: for); chat models and GPT-4o are faster.
DEFAULT_SPEEDS = {
    VISIBLE: Speed(2.0, 30.0, "assumed: 2 s to the first token, 30 tokens/s"),
    HIDDEN: Speed(2.0, 80.0, "assumed: 2 s to the first token, 80 tokens/s (hidden reasoning included)"),
    CHAT: Speed(0.8, 60.0, "assumed: 0.8 s to the first token, 60 tokens/s"),
}


def family(config: ModelConfig) -> str:
    """``visible reasoning`` (thinking returned), ``hidden reasoning`` (OpenAI's o-series: only a count
    of reasoning tokens) or ``chat``."""
    if not config.reasoning:
        return CHAT
    return HIDDEN if config.model.split("/")[-1].startswith(("o1", "o3", "o4")) else VISIBLE
