"""lm-evaluation-harness per-sample logs (``--log_samples``: ``samples_<task>_<date>.jsonl``) as normalised rows.

Each line is one document of a ``generate_until`` task: ``doc_id``, ``doc``, ``target``,
``arguments`` (the requests: ``{"gen_args_0": {"arg_0": CONTEXT, "arg_1": GEN_KWARGS}}`` since
lm-eval 0.4.2, ``[[CONTEXT, GEN_KWARGS]]`` before), ``resps`` (the raw generations per request)
and ``filtered_resps`` (after the task's filters), plus hashes and one entry per metric.

The prompt is the first request's context: a plain string becomes one user turn; a JSON list of
``{"role", "content"}`` turns (what ``--apply_chat_template`` sends an API model, logged as that
string or as a one-element list holding it) becomes that conversation. The raw generation
(``resps[0][0]``) is the row's ``output``, for the trace parser; a task run with ``repeats`` > 1
gives one row per generation (``id`` the ``doc_id``, ``sample`` K, the generation's index). A task
with several filters logs each document once per filter: those lines become one row whose
``meta["lm_eval"]["filtered_resps"]`` maps each filter to its filtered responses. Loglikelihood
(multiple-choice) samples have no generated text and are refused with a UserError.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from r1lib.core.errors import UserError

_NAME = re.compile(r"samples_(?P<task>.+?)(?:_(?P<date>\d{4}-\d{2}-\d{2}T[\d.\-]+))?\.jsonl$")
_METADATA_FIELDS = ("doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics")


def read_lm_eval_samples(path: str | Path) -> list[dict[str, Any]]:
    """The documents of the lm-eval samples file at ``path`` as normalised rows (see the module docstring).

    ``id`` is the ``doc_id``; ``meta`` holds ``doc``, ``target`` and ``meta["lm_eval"]`` (task and
    date from the file name, generation arguments, filtered responses by filter, metric values
    keyed ``METRIC,FILTER`` as in lm-eval's results file, hashes); ``model`` is None (the samples
    file does not name it; lm-eval's results file does) and ``category`` is empty (the document's
    fields are in ``meta["doc"]``).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no lm-evaluation-harness samples file at {path}; give a samples_<task>_<date>.jsonl "
                        "written by `lm_eval --log_samples`")
    name = _NAME.search(path.name)
    task = {"task": name["task"], "date": name["date"]} if name else {"task": None, "date": None}
    documents: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            _merge(documents, _sample(_parse(line, path, number), path, number))
    if not documents:
        raise UserError(f"{path} holds no samples; give a samples file of a finished `lm_eval --log_samples` run")
    return [row for document in documents.values() for row in _rows(document, task)]


def _parse(line: str, path: Path, number: int) -> dict[str, Any]:
    """One JSON line as a dict with the fields every generate_until sample has."""
    try:
        sample = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} line {number} is not JSON ({exc}); give the samples_*.jsonl file lm-eval wrote") \
            from exc
    missing = [f for f in ("doc_id", "arguments", "resps") if not isinstance(sample, dict) or f not in sample]
    if missing:
        raise UserError(f"{path} line {number} has no {', '.join(missing)}; it is not an lm-evaluation-harness "
                        "--log_samples line (fields doc_id, doc, target, arguments, resps, filtered_resps)")
    return sample


def _sample(sample: dict[str, Any], path: Path, number: int) -> dict[str, Any]:
    """The parts of one line this reader keeps: id, context, generation arguments, responses, the rest."""
    context, gen_kwargs = _first_request(sample["arguments"], path, number)
    responses = sample["resps"][0] if sample["resps"] and isinstance(sample["resps"][0], list) else None
    if not responses or not all(isinstance(r, str) for r in responses):
        raise UserError(f"{path} line {number} (doc_id {sample['doc_id']}) holds no generated text in resps "
                        "(a loglikelihood or multiple-choice task?); r1lib imports generate_until samples only")
    extra = {k: v for k, v in sample.items() if k not in _METADATA_FIELDS}
    filter_name = str(sample.get("filter", "none"))
    metrics = {f"{m},{filter_name}": extra.pop(m) for m in sample.get("metrics") or [] if m in extra}
    return {"doc_id": str(sample["doc_id"]), "context": context, "gen_kwargs": gen_kwargs, "responses": responses,
            "doc": sample.get("doc"), "target": sample.get("target"), "line": number,
            "filtered_resps": {filter_name: sample.get("filtered_resps")}, "metrics": metrics, "extra": extra}


def _first_request(arguments: Any, path: Path, number: int) -> tuple[Any, Any]:
    """The context and generation arguments of the first request, in either documented shape."""
    if isinstance(arguments, dict) and isinstance(arguments.get("gen_args_0"), dict):
        first = arguments["gen_args_0"]
        return first.get("arg_0"), first.get("arg_1")
    if isinstance(arguments, list) and arguments and isinstance(arguments[0], list) and arguments[0]:
        first = arguments[0]
        return first[0], first[1] if len(first) > 1 else None
    raise UserError(f"{path} line {number}: arguments is neither {{'gen_args_0': {{'arg_0': ...}}}} nor "
                    "[[context, gen_kwargs]]; give a samples file written by lm-eval 0.4 or later")


def _merge(documents: dict[str, dict[str, Any]], sample: dict[str, Any]) -> None:
    """Add a line; a second line of the same document (another filter) adds only its filtered responses."""
    known = documents.get(sample["doc_id"])
    if known is None:
        documents[sample["doc_id"]] = sample
        return
    if (known["responses"], known["context"]) != (sample["responses"], sample["context"]):
        raise UserError(f"lines {known['line']} and {sample['line']} both hold doc_id {sample['doc_id']} with "
                        "different prompts or responses; give the samples file of one run and one task")
    known["filtered_resps"].update(sample["filtered_resps"])
    known["metrics"].update(sample["metrics"])


def _rows(document: dict[str, Any], task: dict[str, Any]) -> list[dict[str, Any]]:
    """One normalised row per generation of one document; ``row`` is the index of its (first) line."""
    messages = _messages(document["context"])
    meta = {"doc": document["doc"], "target": document["target"],
            "lm_eval": {**task, "doc_id": document["doc_id"], "gen_kwargs": document["gen_kwargs"],
                        "filtered_resps": document["filtered_resps"], "metrics": document["metrics"],
                        **document["extra"]}}
    return [{"id": document["doc_id"], "messages": copy.deepcopy(messages), "output": response, "thinking": None,
             "answer": None, "category": {}, "meta": copy.deepcopy(meta), "model": None, "row": document["line"] - 1,
             "sample": k} for k, response in enumerate(document["responses"])]


def _messages(context: Any) -> list[dict[str, str]]:
    """The conversation of a request's context: a chat-template JSON list of turns, or one user turn."""
    if isinstance(context, list) and len(context) == 1 and isinstance(context[0], str):
        context = context[0]
    if not isinstance(context, str):
        raise UserError(f"a request context is {type(context).__name__}, not text; "
                        "r1lib imports generate_until samples whose context is a prompt string")
    turns = _chat_turns(context)
    return turns if turns is not None else [{"role": "user", "content": context}]


def _chat_turns(context: str) -> list[dict[str, str]] | None:
    """The turns of a context that is a JSON chat history ending in a user turn, else None."""
    if not context.lstrip().startswith("["):
        return None
    try:
        turns = json.loads(context)
    except json.JSONDecodeError:
        return None
    if (isinstance(turns, list) and turns and all(isinstance(t, dict) and isinstance(t.get("content"), str)
                                                  and t.get("role") in ("system", "user", "assistant") for t in turns)
            and turns[-1]["role"] == "user"):
        return [{"role": t["role"], "content": t["content"]} for t in turns]
    return None
