"""Real model outputs recorded by other projects: the pinned files, the runs they hold, their rows.

The shared data mirror's ``recorded/`` folder holds published outputs of reasoning models and their
non-reasoning counterparts on safety prompts, with the labels their authors shipped (each folder's
MANIFEST.md gives the details). This module declares every one of those files once, as a
:class:`FileSource`, groups them into *runs* (one model's outputs in one source, e.g.
``refusal-direction/DeepSeek-R1-Distill-Llama-8B``) and reads them into :class:`RecordedRow`\\ s.

Three parts of the library read recorded data and must agree on what a row is and on its index: the
benchmarks of the recorded prompt sets (:mod:`r1lib.benchmarks.recorded_sets`), the ``recorded`` backend
(:mod:`r1lib.generation.backends.recorded`) and the judges of the shipped labels (:mod:`r1lib.judges.recorded`).
They all go through :func:`read_run`, which is why the files, the runs and the row reader live here.

Sources (repo@commit; license):

- ``refusal-direction``: ``andyrdt/refusal_direction`` pipeline baselines on the 100 JailbreakBench
  behaviours and 100 Alpaca prompts; greedy, ``max_new_tokens=512``. DeepSeek-R1-Distill-Llama-8B
  at ``b11c576`` (the evaluations files were *reassembled* from index text and the completions files
  *reconstructed* from them: their sha256 is of the mirror's copy, not of an upstream blob) and
  Llama-3-8B-Instruct at ``9d852fa`` (byte-identical). Labels per row in the evaluations files:
  substring match (1 = no refusal prefix) and Llama Guard 2 (JBB only; 1 = unsafe). Apache-2.0.
- ``cosmic``: ``wang-research-lab/COSMIC``, a fork of that pipeline (same formats; 512 new tokens
  in ``pipeline/config.py`` at ``c7fe1a4``): Llama-3.1-8B-Instruct (``c7fe1a4``) and Qwen2.5-7B-Instruct
  (``032ac85``) on the JBB behaviours, labelled by substring match and Llama Guard 3. Apache-2.0.
- ``personas``: ``VictorQian03/Jailbreaking-LLMs-with-Personas`` at ``71f8352``: full DeepSeek-R1
  (Together, temperature 0.7, ``max_tokens=1000``) on 10 harmful goals, plain and under persona
  and scenario system prompts; DeepSeek-V3 harm flags 0-3 on ``cot`` and ``response`` separately
  and a refusal flag. **No license file**: internal test use only.
- ``age-bias``: ``sem-huits/NLP-xstest`` at ``dfca3e3`` (*reassembled*, renamed): thinking traces of
  DeepSeek-R1-Distill-Qwen-14B (Ollama ``deepseek-r1:14b``) on 100 age-prefixed XSTest safe
  prompts, with one annotator's label of each trace (``sentiment``) and an LLM label of the final
  answer (``final_label``; the answer text itself is not in the file). **No license file**:
  internal test use only (prompts from XSTest, CC-BY-4.0).
- ``deepseek-api-jailbreak``: ``LC1332/deepseek-api-jailbreak`` at ``1af05a5``: DeepSeek-R1 and
  DeepSeek-V3 as three Chinese cloud providers served them in February 2025 (Volcano Engine,
  Alibaba Cloud, Tencent Cloud), each answering its own multi-turn "paper outline" jailbreak
  conversation of the same JailbreakBench goals; final answers only (no thinking), with one LLM
  judge's ``Jailbroken`` flag. Files 1 and 2 (the R1/V3 pairs); GLM-4-Air and the V3-only file 3
  are left out. A run is one (model, provider): the row's ``Model`` field. MIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1lib.benchmarks.sources import DataFiles, FileSource
from r1lib.benchmarks.spec import read_json, read_table
from r1lib.core.errors import UserError

REFUSAL_DIRECTION = "andyrdt/refusal_direction"
R1_DISTILL_COMMIT = "b11c5763df9afe6720a22a1d80f516074fd17aef"
LLAMA3_COMMIT = "9d852fae1a9121c78b29142de733cb1340770cc3"
COSMIC = "wang-research-lab/COSMIC"
COSMIC_LLAMA_COMMIT = "c7fe1a4877eb0baf8edd43ffef689056cfc428fc"
COSMIC_QWEN_COMMIT = "032ac85fe53bb936cdcf19f457e3c4bafbfa8697"
PERSONAS = "VictorQian03/Jailbreaking-LLMs-with-Personas"
PERSONAS_COMMIT = "71f83526ebb1c5daef2d4eee73d702e1fca0e572"
AGE_BIAS = "sem-huits/NLP-xstest"
AGE_BIAS_COMMIT = "dfca3e3f167b5a0ea8bb62cf7a53ccc8e54bc6e4"
DEEPSEEK_JAILBREAK = "LC1332/deepseek-api-jailbreak"
DEEPSEEK_JAILBREAK_COMMIT = "1af05a55b02fcceb46ee56661d50a78fa652b7d9"

NO_LICENSE = "none (no license file upstream): internal test use only, do not redistribute"
REASSEMBLED = "reassembled from index text; sha256 of the mirror's copy"
RECONSTRUCTED = "reconstructed from the evaluations file; sha256 of the mirror's copy"


@dataclass(frozen=True)
class RecordedFile:
    """One file of recorded outputs.

    ``outputs`` holds the prompts and outputs; ``labels`` the shipped labels when they live in a separate file
    (the refusal_direction pipeline's evaluations, row for row), else None. ``format``: ``pipeline``
    (refusal_direction completions + evaluations), ``personas`` (the merged JSON), ``age-bias`` (the annotation
    CSV), ``deepseek-jailbreak`` (the jailbroken-results JSON) or ``imported`` (an import folder,
    :mod:`r1lib.benchmarks.imported`; ``extra`` holds its mapping). ``condition``: the prompt set (``jailbreakbench``,
    ``harmless``, ``plain``, ``scenario``, ``persona``, ``persona-scenario``, ``xstest-age``, ``paper-outline``).
    """

    outputs: FileSource
    labels: FileSource | None
    format: str
    condition: str
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RecordedRun:
    """One model's recorded outputs in one source: ``name`` is ``<source>/<run>``.

    ``shape`` says how its outputs show the thinking (:mod:`r1lib.generation.backends.recorded` hands each
    shape to the trace parser): ``prefilled_think`` (start inside it, end it at a bare ``</think>``),
    ``think_tags`` (``<think>`` … ``</think>``), ``thinking_only`` (the text inside ``<think>``, no answer),
    ``answer_only`` (a reasoning model whose provider returned its final answer without the thinking) or
    ``no_thinking``. ``max_new_tokens`` is the source's generation limit (None: not known).
    ``select``: the rows' ``model`` value of this run when its files hold several models' (None: all rows).
    """

    name: str
    model: str
    shape: str
    max_new_tokens: int | None
    files: tuple[RecordedFile, ...]
    select: str | None = None


@dataclass(frozen=True)
class RecordedRow:
    """One recorded output with its prompt and shipped labels.

    ``output`` is the model's text exactly as the file stores it (for ``age-bias`` the thinking
    trace). ``fields`` holds the file's other text columns (``category``, ``cot``, ``response``,
    ``persona_type``, ``type``, ...); ``labels`` the shipped labels, raw (numbers or strings as stored).
    ``history`` holds the turns between the system prompt and the final user ``prompt`` of a
    multi-turn conversation (empty for single-turn rows). Imports only: ``reasoning``, the thinking the
    source delivered apart from the output (an Inspect reasoning block); ``finish_reason``, the one it
    recorded; ``sample``, the output's index among the prompt's (an epoch or repeat; 0 for pinned files).
    """

    file: RecordedFile
    index: int
    system: str | None
    prompt: str
    output: str
    fields: dict[str, str] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    history: tuple[dict[str, str], ...] = ()
    reasoning: str | None = None
    finish_reason: str | None = None
    sample: int = 0

    @property
    def messages(self) -> list[dict[str, str]]:
        """The conversation the recorded output answers: system prompt (if any), history, final user turn."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, *self.history, {"role": "user", "content": self.prompt}]


def normalise_text(text: str) -> str:
    """Whitespace-normalised text: how recorded prompts are matched to items."""
    return " ".join(text.split())


def _github(dataset: str, benchmark: str, repo: str, commit: str, path: str, mirror: str, sha256: str,
            rows: int, license: str, name: str) -> FileSource:
    return FileSource(dataset=dataset, benchmark=benchmark, host="github", repo=repo, revision=commit,
                      path=path, sha256=sha256, rows=rows, mirror=f"recorded/{mirror}", license=license, name=name)


def _pipeline_pair(source: str, repo: str, commit: str, run: str, condition: str, benchmark: str,
                   sha_completions: str, sha_evaluations: str, license: str,
                   note: tuple[str, str] = ("", "")) -> RecordedFile:
    """The completions and evaluations files of one refusal_direction-pipeline run and prompt set."""
    folder = f"runs/{run}/completions"
    sources = []
    for kind, sha, extra in (("completions", sha_completions, note[0]), ("evaluations", sha_evaluations, note[1])):
        base = f"{condition}_baseline_{kind}.json"
        sources.append(_github(
            f"{source} {run} {condition} {kind}" + (f" ({extra})" if extra else ""), benchmark, repo, commit,
            f"pipeline/{folder}/{base}", f"{source}/{folder}/{base}", sha, 100, license, f"{source}/{run}/{base}"))
    return RecordedFile(outputs=sources[0], labels=sources[1], format="pipeline", condition=condition)


_R1_NOTE = (RECONSTRUCTED, REASSEMBLED)
_R1 = "DeepSeek-R1-Distill-Llama-8B"
_L3 = "meta-llama-3-8b-instruct"
R1_DISTILL_JBB = _pipeline_pair(
    "refusal-direction", REFUSAL_DIRECTION, R1_DISTILL_COMMIT, _R1, "jailbreakbench", "jbb-recorded",
    "c925ba070e48a17b09fb745c9c306b5bb484af2d1240608a66e9f3c87a3fe559",
    "0f4bd80c0c840bbd57b73704e1122d68ef8d2eb3c4870aa438a9088ba79972ac", "Apache-2.0", _R1_NOTE)
R1_DISTILL_HARMLESS = _pipeline_pair(
    "refusal-direction", REFUSAL_DIRECTION, R1_DISTILL_COMMIT, _R1, "harmless", "alpaca-harmless",
    "02a1fa25a3f5985aaa6773120d65360315f0b178613bc806a5f0659b5959b1f3",
    "c773cb34d32bed6e9dd6ecd29d341f3a52bf8f958325caed2afdf896999158a4", "Apache-2.0", _R1_NOTE)
LLAMA3_JBB = _pipeline_pair(
    "refusal-direction", REFUSAL_DIRECTION, LLAMA3_COMMIT, _L3, "jailbreakbench", "jbb-recorded",
    "a5c1745fb04242bb06aae263b3fe731796c6d3e75f7a82b78114339a834dc1de",
    "924f49b7eafd6e49ed78d4f9811e5c94f378010570e1ec702d1f1dff2b10b69f", "Apache-2.0")
LLAMA3_HARMLESS = _pipeline_pair(
    "refusal-direction", REFUSAL_DIRECTION, LLAMA3_COMMIT, _L3, "harmless", "alpaca-harmless",
    "83c1e64c5c83f39358d88f9f54e431c7a5f99ea60c19858fbe924fe79fef144c",
    "b8deff7e67a76a74a58f535260270abbd55b155f21d9137d2e5721417029ff5d", "Apache-2.0")
COSMIC_LLAMA_JBB = _pipeline_pair(
    "cosmic", COSMIC, COSMIC_LLAMA_COMMIT, "Llama-3.1-8B-Instruct", "jailbreakbench", "jbb-recorded",
    "143af7f6bd65d8cc13a16c4cfb4de90283907dea43ddc65ab98cdee14914152f",
    "8cd7b49ad2b7709305efd8995d0f953b627492904dc36ac1b7fbed29975f3491", "Apache-2.0 (no copyright holder named)")
COSMIC_QWEN_JBB = _pipeline_pair(
    "cosmic", COSMIC, COSMIC_QWEN_COMMIT, "Qwen2.5-7B-Instruct", "jailbreakbench", "jbb-recorded",
    "d2ce603bbc9d1354a18049bc998724b7d07810305325bb6dbac7436c69a7eec5",
    "d14f734aa24714a915764cc604ff1a2744cee1d2f9b446fa59b75e9dcaf2dbc6", "Apache-2.0 (no copyright holder named)")

#: Personas conditions: (folder under eval/, condition name, rows, sha256).
_PERSONAS = (
    ("baseline_goal", "plain", 10, "b1597ab75e3c87bf39ee32b3ed86e5da0c4c47d510e8be5100b24c2e8b1a80bc"),
    ("baseline_and_scenario", "scenario", 30, "eabb0452c3a437bba2e8cb73f6a5afe7f23004742cb9cc047275a51244cc60ff"),
    ("persona_goal", "persona", 150, "331ece4be64e5f63f0602df3854abdfca909e75dbf920fb18d728d90ba43ce6a"),
    ("persona_and_scenario", "persona-scenario", 450,
     "797fd777292ad213b977cff3ef4905f4f898106ab24eb6f2d3b7123ffeab0e16"),
)
PERSONAS_FILES = tuple(
    RecordedFile(outputs=_github(
        f"Jailbreaking-LLMs-with-Personas {folder}", "personas", PERSONAS, PERSONAS_COMMIT,
        f"eval/{folder}/test_output_merged.json",
        f"jailbreaking-llms-with-personas/eval/{folder}/test_output_merged.json", sha, rows, NO_LICENSE,
        f"{folder}/test_output_merged.json"), labels=None, format="personas", condition=condition)
    for folder, condition, rows, sha in _PERSONAS)
AGE_BIAS_FILE = RecordedFile(outputs=_github(
    f"NLP-xstest age-bias thinking annotations (Jelle) ({REASSEMBLED}; renamed from "
    "'Age-Based Bias in Large Reasoning Models<think>(Jelle).csv')", "xstest-age", AGE_BIAS, AGE_BIAS_COMMIT,
    "Age-Based Bias in Large Reasoning Models/results/human_annotated/"
    "Age-Based Bias in Large Reasoning Models<think>(Jelle).csv",
    "sem-huits-age-bias/human_annotated/think_annotations_Jelle.csv",
    "4167679db44a484cf4117f1492f975bb1a9bbbe15ca232e0f4d655ce3c4fc698", 100,
    f"{NO_LICENSE}; prompts from XSTest (CC-BY-4.0)", "think_annotations_Jelle.csv"),
    labels=None, format="age-bias", condition="xstest-age")

#: The deepseek-api-jailbreak result files with R1/V3 pairs: (file, rows, sha256).
_DEEPSEEK_FILES = (
    ("jailbroken_results1.json", 70, "26f2d4d1b1b03b9065b5f640f7a2febe0b7c7d66ef0ab777ad5e1e5906c686bf"),
    ("jailbroken_results2.json", 150, "ea5603ae1f5af17b674a065436343d13b4018e036539b3fe8991aeddc7547f56"),
)
DEEPSEEK_JAILBREAK_FILES = tuple(
    RecordedFile(outputs=_github(
        f"deepseek-api-jailbreak {name}", "deepseek-jailbreak", DEEPSEEK_JAILBREAK, DEEPSEEK_JAILBREAK_COMMIT,
        f"jailbreak_result/{name}", f"deepseek-api-jailbreak/jailbreak_result/{name}", sha, rows, "MIT", name),
        labels=None, format="deepseek-jailbreak", condition="paper-outline")
    for name, rows, sha in _DEEPSEEK_FILES)
#: The JailbreakBench behaviours file the set's goals come from (for their JBB index and category).
DEEPSEEK_JAILBREAK_GOALS = _github(
    "deepseek-api-jailbreak JailbreakBench behaviours", "deepseek-jailbreak", DEEPSEEK_JAILBREAK,
    DEEPSEEK_JAILBREAK_COMMIT, "input/harmful_behaviors_jailbreakbench.csv",
    "deepseek-api-jailbreak/input/harmful_behaviors_jailbreakbench.csv",
    "05a6aaa9637a410683ebee5ebbf6eeb17e2ca19282467a26881ed6959c32f63e", 100, "MIT",
    "harmful_behaviors_jailbreakbench.csv")
#: Provider as the set names it -> the short name in model and item names.
DEEPSEEK_PROVIDERS = {"火山方舟": "volcengine", "阿里云": "alibaba", "腾讯云": "tencent"}
#: The set's model names without the provider prefix -> the short name in model and item names.
DEEPSEEK_MODELS = {"DeepSeek-R1": "r1", "DeepSeek-V3": "v3"}


#: Every deepseek-api-jailbreak run name -> (``r1``/``v3``, provider).
DEEPSEEK_RUNS = {f"deepseek-api-jailbreak/{model}@{where}": (short, where)
                 for model, short in DEEPSEEK_MODELS.items() for where in DEEPSEEK_PROVIDERS.values()}


def deepseek_run(name: str) -> tuple[str, str] | None:
    """(``r1``/``v3``, provider) of a deepseek-api-jailbreak run name, None for any other name."""
    return DEEPSEEK_RUNS.get(name)


def _deepseek_runs() -> list[RecordedRun]:
    """One run per (model, provider) of the deepseek-api-jailbreak set."""
    provider_of = {where: provider for provider, where in DEEPSEEK_PROVIDERS.items()}
    model_of = {short: model for model, short in DEEPSEEK_MODELS.items()}
    return [RecordedRun(name, f"deepseek-ai/{model_of[short]} (served by {where}, Feb 2025)",
                        "answer_only" if short == "r1" else "no_thinking", None, DEEPSEEK_JAILBREAK_FILES,
                        select=f"{provider_of[where]}{model_of[short]}")
            for name, (short, where) in DEEPSEEK_RUNS.items()]


#: Every recorded run, by the name a model entry gives as ``model:`` with ``backend: recorded``.
RUNS: dict[str, RecordedRun] = {run.name: run for run in (
    RecordedRun("refusal-direction/DeepSeek-R1-Distill-Llama-8B", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
                "prefilled_think", 512, (R1_DISTILL_JBB, R1_DISTILL_HARMLESS)),
    RecordedRun("refusal-direction/meta-llama-3-8b-instruct", "meta-llama/Meta-Llama-3-8B-Instruct",
                "no_thinking", 512, (LLAMA3_JBB, LLAMA3_HARMLESS)),
    RecordedRun("cosmic/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "no_thinking", 512,
                (COSMIC_LLAMA_JBB,)),
    RecordedRun("cosmic/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "no_thinking", 512, (COSMIC_QWEN_JBB,)),
    RecordedRun("personas/DeepSeek-R1", "deepseek-ai/DeepSeek-R1", "think_tags", 1000, PERSONAS_FILES),
    RecordedRun("age-bias/DeepSeek-R1-Distill-Qwen-14B", "deepseek-r1:14b (Ollama; DeepSeek-R1-Distill-Qwen-14B)",
                "thinking_only", None, (AGE_BIAS_FILE,)),
    *_deepseek_runs(),
)}
#: Every recorded file (outputs, separate label files, the deepseek-api-jailbreak goals), each once.
SOURCES: tuple[FileSource, ...] = tuple(dict.fromkeys([
    *(source for run in RUNS.values() for file in run.files
      for source in (file.outputs, file.labels) if source is not None), DEEPSEEK_JAILBREAK_GOALS]))


def get_run(name: str) -> RecordedRun:
    """The recorded run called ``name`` (``imported/NAME@VERSION``: an import folder); unknown names list them."""
    if name.startswith("imported/"):
        from r1lib.benchmarks.imported.run import imported_run  # the import package builds on this module
        return imported_run(name)
    if name not in RUNS:
        raise UserError(f"no recorded run {name!r}; recorded runs: {', '.join(RUNS)} "
                        "(give one as `model:` of a `backend: recorded` entry)")
    return RUNS[name]


def read_run(name: str, files: DataFiles | None = None) -> list[RecordedRow]:
    """Every row of a recorded run, file by file in declaration order (checksums and row counts checked)."""
    run = get_run(name)
    files = files or DataFiles()
    return [row for file in run.files for row in file_rows(file, files)
            if run.select is None or row.fields.get("model") == run.select]


def file_rows(file: RecordedFile, files: DataFiles) -> list[RecordedRow]:
    """The rows of one recorded file."""
    if file.format == "pipeline":
        return _pipeline_rows(file, files)
    if file.format == "personas":
        return _personas_rows(file, files)
    if file.format == "deepseek-jailbreak":
        return _deepseek_rows(file, files)
    if file.format == "imported":
        from r1lib.benchmarks.imported.run import imported_rows  # the import package builds on this module
        return imported_rows(file)
    return _age_bias_rows(file, files)


def _json_rows(source: FileSource, files: DataFiles, key: str | None = None) -> tuple[list[dict[str, Any]], Path]:
    path = files.path(source)
    data = read_json(source, path)
    rows = data[key] if key is not None and isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise UserError(f"{source.dataset}: {path} does not hold a list of rows; it is not the pinned file")
    files.expect_rows(source, path, len(rows))
    return rows, path


def _pipeline_rows(file: RecordedFile, files: DataFiles) -> list[RecordedRow]:
    """Completions (category, prompt, response) joined row by row with their evaluations' labels."""
    assert file.labels is not None, "pipeline files always have an evaluations file"
    completions, path = _json_rows(file.outputs, files)
    evaluations, labels_path = _json_rows(file.labels, files, "completions")
    rows = []
    for index, (done, judged) in enumerate(zip(completions, evaluations)):
        if (done["prompt"], done["response"]) != (judged["prompt"], judged["response"]):
            raise UserError(f"{file.labels.dataset}: row {index} of {labels_path} does not belong to row {index} "
                            f"of {path}; the two files are not the pinned pair")
        labels = {k: v for k, v in judged.items() if k.startswith("is_jailbreak_")}
        rows.append(RecordedRow(file=file, index=index, system=None, prompt=done["prompt"],
                                output=done["response"], fields={"category": done["category"] or ""},
                                labels=labels))
    return rows


_PERSONA_FIELDS = ("cot", "response", "persona_type", "persona_trait", "scenario_type")
_PERSONA_LABELS = ("harmful_completion_flag_cot", "harmful_completion_flag_response", "refusal_flag")


def _personas_rows(file: RecordedFile, files: DataFiles) -> list[RecordedRow]:
    """Rows of a personas ``test_output_merged.json``: system and user prompt, raw ``answer``, flags."""
    records, _ = _json_rows(file.outputs, files)
    return [RecordedRow(file=file, index=index, system=row["system_prompt"], prompt=row["user_prompt"],
                        output=row["answer"], fields={k: str(row[k]) for k in _PERSONA_FIELDS},
                        labels={k: row[k] for k in _PERSONA_LABELS})
            for index, row in enumerate(records)]


_AGE_FIELDS = ("id", "type", "age_condition")
_AGE_LABELS = ("sentiment", "final_label")


def _age_bias_rows(file: RecordedFile, files: DataFiles) -> list[RecordedRow]:
    """Rows of the age-bias CSV: the age-prefixed prompt, the thinking trace, the human and LLM labels."""
    path = files.path(file.outputs)
    frame = read_table(file.outputs, path, ("prompt", "reasoning_trace", *_AGE_FIELDS, *_AGE_LABELS))
    files.expect_rows(file.outputs, path, len(frame))
    return [RecordedRow(file=file, index=index, system=None, prompt=row["prompt"],
                        output=row["reasoning_trace"], fields={k: row[k] for k in _AGE_FIELDS},
                        labels={k: row[k] for k in _AGE_LABELS})
            for index, row in enumerate(frame.to_dict("records"))]


def _deepseek_rows(file: RecordedFile, files: DataFiles) -> list[RecordedRow]:
    """Rows of a jailbroken-results file: the attack conversation, the final answer, the ``Jailbroken`` flag."""
    records, path = _json_rows(file.outputs, files)
    rows = []
    for index, row in enumerate(records):
        conversation = row["Reformulated Prompt"]
        roles = [m.get("role") for m in conversation]
        if not conversation or roles[-1] != "user" or "system" in roles[1:]:
            raise UserError(f"{file.outputs.dataset}: row {index} of {path} is not a conversation ending in a user "
                            "turn; it is not the pinned file")
        system = conversation[0]["content"] if roles[0] == "system" else None
        history = tuple({"role": m["role"], "content": m["content"]} for m in conversation[1 if system else 0:-1])
        rows.append(RecordedRow(
            file=file, index=index, system=system, prompt=conversation[-1]["content"], output=row["Response"],
            fields={"goal": row["Prompt"], "provider": row["API provider"], "model": row["Model"]},
            labels={"Jailbroken": row["Jailbroken"]}, history=history))
    return rows


def recorded_sources(configs: Sequence[Any]) -> str:
    """Where the recorded outputs among ``configs`` (model entries) come from (repository@commit), or ''."""
    files = DataFiles()
    cited = []
    for config in configs:
        if config.backend == "recorded":
            source = get_run(config.model).files[0].outputs
            upstream = f"{source.repo}@{(source.revision or 'main')[:12]}"
            cited.append(f"{config.display_name()} = {files.marked(upstream)}")
    return ("recorded outputs of the named models (not the paper's runs): " + ", ".join(cited)) if cited else ""
