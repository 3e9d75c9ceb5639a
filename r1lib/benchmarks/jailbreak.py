"""Jailbreak prompts, and the JailbreakBench behaviours they attack.

The paper attacked with 810 adversarial prompts from WildGuardTest (HF ``allenai/wildguardmix``,
config ``wildguardtest``; gated: accept its terms and set ``HF_TOKEN``). Which 810 is not known;
here the ``wildguard`` split is every distinct adversarial prompt labelled harmful
(``adversarial`` and ``prompt_harm_label == "harmful"``), and ``wildguard-vanilla`` every distinct
*vanilla* (non-adversarial) harmful prompt: WildGuardTest's plain requests. WildGuardTest has no
shared behaviour id between the two, so ``meta["goal"]`` is the prompt itself and plain vs attacked
prompts are compared as two groups (:func:`plain_counterpart`). The revision is ``main`` (no commit could be
pinned offline), and the file has no pinned checksum.

Offline (and by default when WildGuardTest has not been fetched) the jailbreaks are the
JailbreakBench attack artifacts: real PAIR, GCG, JailbreakChat (JBC), random-search and DSN prompts
over the 100 JBB behaviours, made against four target models. Artifacts without a prompt (the
attack produced none, e.g. PAIR against llama-2: 96 of 100) are skipped, and a prompt reused by
one method against several target models is kept once (1,097 distinct prompts of 1,637); these
items carry ``meta["source"] = "jailbreakbench-artifacts"``, ``meta["goal"]`` (the behaviour the
judge needs) and ``meta["artifact_label"]`` = ``{target model: the artifact's jailbroken label}``.

Splits: ``None`` (WildGuardTest when fetched, else the artifacts), ``wildguard``,
``wildguard-vanilla``, ``artifacts`` and ``plain``: the 100 JBB behaviours as direct requests, for
the plain-vs-jailbreak comparison of safety thinking (Fig. 5), paired by behaviour.
``category`` = ``{"category": behaviour category, "method": attack method}`` (``plain`` for
direct requests). The ``jbb-behaviors`` benchmark is the same 100
behaviours under their own name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1lib.benchmarks.base import Item
from r1lib.benchmarks.sources import DataFiles, FileSource
from r1lib.benchmarks.spec import benchmark, read_json, read_table, user_turn
from r1lib.core.errors import UserError

ARTIFACTS_REPO = "JailbreakBench/artifacts"
ARTIFACTS_COMMIT = "909e68c01d94222b8ad2e397a017e2e12e2adb73"
ARTIFACT_SOURCE_FLAG = "jailbreakbench-artifacts"
WILDGUARD_SOURCE_FLAG = "wildguardtest"

#: (method folder, attack type, target model, sha256) of every attack artifact.
_ARTIFACTS = (
    ("DSN", "white_box", "llama-2-7b-chat-hf", "9bcdbe88b18e729ca9abf593d3e5141e7958aff0eb3a0e62ae92b8f64acbdcd9"),
    ("DSN", "white_box", "vicuna-13b-v1.5", "ea0a5f7331baf595fb6e6925423f43367cbce8da9273ce93c6a03e2201e3373d"),
    ("GCG", "transfer", "gpt-3.5-turbo-1106", "ff185b1dc73732d830e96efdb3f4a92294ee72e9c88a1800b1d11d4ecb3d4cdf"),
    ("GCG", "transfer", "gpt-4-0125-preview", "af54543a06e3702256315517ee6e6a7b0edf182dd2c6d938216fa58cbea8de23"),
    ("GCG", "white_box", "llama-2-7b-chat-hf", "f76cbaf899c79ca8eed6a6ed26d6f8789933c5595a9a5ee028e305dec4dd95f7"),
    ("GCG", "white_box", "vicuna-13b-v1.5", "9eff8b6f78cae002737868ca8cdd886be5afcd1cbbbe4cf51ff837bc688b01b1"),
    ("JBC", "manual", "gpt-3.5-turbo-1106", "5999b8f2fc5e85fd4f7d6553abaeaa66f2dc10c5354faa41622e511c08eab871"),
    ("JBC", "manual", "gpt-4-0125-preview", "1785f7cf838522461b5b9af3fa606715ecf55c194581f4c8c5c9f1945b59db05"),
    ("JBC", "manual", "llama-2-7b-chat-hf", "1607a5a5b9f50abc7f2ff9e07b7257dfde7228b88cfdf73c20f5f56108ffdd23"),
    ("JBC", "manual", "vicuna-13b-v1.5", "1d5df5aa451c3d1bb8a4c048a7b2e1e6132e72f2970cb9d94ffc77f44e0edb39"),
    ("PAIR", "black_box", "gpt-3.5-turbo-1106", "49e007ce488e606cede7ffc8b022e35080b7f3870956e4cb2423d9b42749c78f"),
    ("PAIR", "black_box", "gpt-4-0125-preview", "6dd214eee78184daf048ac8af166641724b49fd25bc831e5d7201469c162004d"),
    ("PAIR", "black_box", "llama-2-7b-chat-hf", "02819296c5d992568d732d37813b2ce34624068a20f21025c04c04d52820b029"),
    ("PAIR", "black_box", "vicuna-13b-v1.5", "18b101386419a98fbdf45cb987069f83af3a40d5e0f7f0d32c4e9dc5ecc049b4"),
    ("prompt_with_random_search", "black_box", "gpt-3.5-turbo-1106",
     "d4a0691eda37b02dc948b6d6d08460f7d5cd3f15099121b388a58634ffb7bd76"),
    ("prompt_with_random_search", "black_box", "gpt-4-0125-preview",
     "4a0573dba6823c676cab99ed54b8191244080883948270fac9b75255b7c69206"),
    ("prompt_with_random_search", "black_box", "llama-2-7b-chat-hf",
     "45df98af6e1c0e35747f6b9c80cdc606e96c76a511e09a1a49ad5b00cfb51c0a"),
    ("prompt_with_random_search", "black_box", "vicuna-13b-v1.5",
     "9d87a56659f617438feb5770bb2c8e4c2dbbd1bd62964f2c1a8775988017ac5d"),
)


def _artifact(method: str, attack_type: str, model: str, sha256: str) -> FileSource:
    relative = f"{method}/{attack_type}/{model}.json"
    return FileSource(dataset=f"JailbreakBench artifact {relative}", benchmark="jailbreak", host="github",
                      repo=ARTIFACTS_REPO, revision=ARTIFACTS_COMMIT, path=f"attack-artifacts/{relative}",
                      sha256=sha256, rows=100, mirror=f"jailbreakbench/attack-artifacts/{relative}",
                      license="MIT", name=f"attack-artifacts/{relative}")


ARTIFACTS = tuple(_artifact(*entry) for entry in _ARTIFACTS)
#: The PAIR artifact against GPT-4 lists the 100 behaviours with their current wording.
BEHAVIORS = next(s for s in ARTIFACTS if s.path.endswith("PAIR/black_box/gpt-4-0125-preview.json"))
WILDGUARD = FileSource(
    dataset="WildGuardTest", benchmark="jailbreak", host="hf", repo="allenai/wildguardmix", revision="main",
    path="test/wildguard_test.parquet", sha256=None, rows=1725, mirror=None, license="ODC-BY (gated)")


@benchmark(name="jailbreak", title="Jailbreak prompts (WildGuardTest / JailbreakBench artifacts)", paper_size=810,
    license="MIT (artifacts); ODC-BY (WildGuardTest)", category_fields=("category", "method"),
    stratify_by=("method", "category"), files=ARTIFACTS, preferred=(WILDGUARD,),
    splits=("wildguard", "wildguard-vanilla", "artifacts", "plain"), judge="jailbreak",
    notes="without WildGuardTest (gated; HF_TOKEN + r1lib data fetch jailbreak) the JailbreakBench "
          "attack artifacts are used (1,097 distinct prompts); the paper's 810 are unknown")
def load(files: DataFiles, split: str | None) -> list[Item]:
    """Jailbreak items for ``split`` (see the module docstring)."""
    if split == "plain":
        return behavior_items(files, "jailbreak")
    if split == "artifacts":
        return artifact_items(files)
    if split == "wildguard":
        return wildguard_items(files, files.path(WILDGUARD))
    if split == "wildguard-vanilla":
        return wildguard_items(files, files.path(WILDGUARD), adversarial=False)
    wildguard = files.local(WILDGUARD)
    return wildguard_items(files, wildguard) if wildguard is not None else artifact_items(files)


def _jailbreaks(files: DataFiles, source: FileSource) -> list[dict[str, Any]]:
    path = files.path(source)
    rows = read_json(source, path)["jailbreaks"]
    files.expect_rows(source, path, len(rows))
    return rows


def artifact_items(files: DataFiles) -> list[Item]:
    """One item per distinct (method, prompt) of the attack artifacts; null prompts skipped."""
    by_prompt: dict[tuple[str, str], Item] = {}
    for source in ARTIFACTS:
        method, attack_type, model = Path(source.path).with_suffix("").parts[-3:]
        for row in _jailbreaks(files, source):
            if row["prompt"] is None:
                continue
            item = by_prompt.get((method, row["prompt"]))
            if item is None:
                item = Item(benchmark="jailbreak", id=f"{method}/{row['index']}/{attack_type}/{model}",
                            messages=user_turn(row["prompt"]),
                            category={"category": row["category"], "method": method},
                            meta={"source": ARTIFACT_SOURCE_FLAG, "goal": row["goal"], "behavior": row["behavior"],
                                  "behavior_index": row["index"], "attack_type": attack_type,
                                  "artifact_label": {}})
                by_prompt[(method, row["prompt"])] = item
            item.meta["artifact_label"][model] = row["jailbroken"]
    return list(by_prompt.values())


def behavior_items(files: DataFiles, benchmark: str) -> list[Item]:
    """The 100 JBB behaviours as direct requests (the ``goal`` text as one user message)."""
    rows = _jailbreaks(files, BEHAVIORS)
    method = {"method": "plain"} if benchmark == "jailbreak" else {}
    prefix = "plain/" if benchmark == "jailbreak" else ""
    return [Item(benchmark=benchmark, id=f"{prefix}{row['index']}", messages=user_turn(row["goal"]),
                 category={"category": row["category"], **method},
                 meta={"source": "jailbreakbench-behaviors", "goal": row["goal"], "behavior": row["behavior"]})
            for row in rows]


def wildguard_items(files: DataFiles, path: Path, *, adversarial: bool = True) -> list[Item]:
    """Distinct harmful prompts of WildGuardTest: the adversarial ones (jailbreaks) or the vanilla ones."""
    frame = read_table(WILDGUARD, path, ("prompt", "adversarial", "prompt_harm_label", "subcategory"))
    files.expect_rows(WILDGUARD, path, len(frame))
    is_adversarial = frame["adversarial"].map(_flag)
    chosen = frame[(is_adversarial == adversarial) & (frame["prompt_harm_label"] == "harmful")]
    chosen = chosen.drop_duplicates("prompt")
    method = "wildguard-adversarial" if adversarial else "plain"
    return [Item(benchmark="jailbreak", id=f"wgt-{index}", messages=user_turn(row["prompt"]),
                 category={"category": str(row["subcategory"]), "method": method},
                 meta={"source": WILDGUARD_SOURCE_FLAG, "goal": row["prompt"]})
            for index, row in chosen.iterrows()]


def _flag(value: Any) -> bool:
    """WildGuardTest's ``adversarial`` column as a boolean (a bool in Parquet, text in a CSV copy)."""
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


@dataclass(frozen=True)
class PlainCounterpart:
    """How to get the plain requests that a jailbreak sample should be compared with.

    ``split`` holds them; ``keep`` selects those of the attacked behaviours (None: a sample of the
    split as large as the jailbreak sample); ``paired_by`` is the item field that pairs a plain
    request with its jailbreaks (None: the two are independent groups).
    """

    split: str
    keep: Callable[[Item], bool] | None
    paired_by: str | None


def plain_counterpart(attacked: Sequence[Item]) -> PlainCounterpart:
    """The plain counterpart of jailbreak items: the JBB behaviours they attack (paired by behaviour),
    or WildGuardTest's vanilla harmful prompts (an unpaired group) for WildGuardTest jailbreaks."""
    sources = {item.meta.get("source") for item in attacked}
    if sources == {ARTIFACT_SOURCE_FLAG}:
        behaviours = {item.meta["behavior"] for item in attacked}
        return PlainCounterpart("plain", lambda item: item.meta.get("behavior") in behaviours, "behavior")
    if sources == {WILDGUARD_SOURCE_FLAG}:
        return PlainCounterpart("wildguard-vanilla", None, None)
    raise UserError(f"jailbreak items from {sorted(map(str, sources))}: no plain counterpart is defined; "
                    "use the JailbreakBench artifacts or WildGuardTest")


@benchmark(name="jbb-behaviors", title="JailbreakBench behaviours (direct requests)", paper_size=None, license="MIT",
    category_fields=("category",), stratify_by=("category",), files=(BEHAVIORS,), judge="jailbreak",
    notes="not in the paper; the 100 JBB-Behaviors goals as worded in the attack artifacts")
def load_behaviors(files: DataFiles, split: str | None) -> list[Item]:
    """The ``jbb-behaviors`` benchmark: the 100 JBB behaviours as direct requests."""
    return behavior_items(files, "jbb-behaviors")


