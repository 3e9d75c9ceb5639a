"""An import folder as a recorded run: ``get_run("imported/NAME@VERSION")`` builds it from here.

The run's shape comes from the mapping in the manifest (see :mod:`r1lib.generation.backends.recorded`
for how each shape is handed to the trace parser):

- raw output, ``opens_thinking``: ``prefilled_think``, the rule of the recorded runs whose chat
  template pre-filled ``<think>`` (text with ``</think>`` as it is; text without it that opens
  the way R1 opens its thinking gets ``<think>`` in front; any other text is a direct answer);
- raw output, ``reasoning_parser: deepseek_r1``: ``reasoning_parser``, as a live output of a
  server running that parser is read (text without tags is all thinking);
- raw output otherwise: ``think_tags`` (inline tags as they are; no tags = no thinking);
- thinking and answer: ``joined``, the two fields as ``<think>\\nT\\n</think>\\nA`` (no thinking
  value: the answer alone);
- an Inspect log's reasoning block (the row has thinking and no raw output): the thinking as a
  separate reasoning field and the answer as the text, as an API with a reasoning field delivers
  them (trace state ``api_field``), whatever the run's shape;
- an answer only: ``answer_only`` for a reasoning model, else ``no_thinking``.

The finish reason is the one an Inspect log recorded (:data:`FINISH_OF_STOP`; ``content_filter`` is
r1lib's blocked finish), else the recorded backend's estimate. Rows without an output are not rows of
the run, so their conversations come back ``not_recorded``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from r1lib.benchmarks.imported.folder import find_folder, outputs_path, parse_model_string, read_manifest, read_rows
from r1lib.benchmarks.imported.rows import has_output
from r1lib.benchmarks.recorded import RecordedFile, RecordedRow, RecordedRun
from r1lib.benchmarks.sources import FileSource
from r1lib.core.traces import CLOSE_TAG, OPEN_TAG

FORMAT = "imported"
#: r1lib's finish reason of an Inspect stop reason (other stop reasons leave it to the estimate).
FINISH_OF_STOP = {"stop": "stop", "max_tokens": "length", "model_length": "length", "content_filter": "content_filter"}


def run_shape(manifest: dict[str, Any]) -> str:
    """The :class:`RecordedRun` shape of an import (see the module docstring)."""
    mapping = manifest["mapping"]
    if mapping.get("output") or manifest["format"] in ("inspect", "lm-eval"):
        if mapping.get("opens_thinking"):
            return "prefilled_think"
        return "reasoning_parser" if mapping.get("reasoning_parser") == "deepseek_r1" else "think_tags"
    if mapping.get("thinking"):
        return "joined"
    return "answer_only" if mapping.get("reasoning") else "no_thinking"


def imported_run(model: str) -> RecordedRun:
    """The recorded run of ``imported/NAME@VERSION`` (its rows: :func:`imported_rows`)."""
    name, version = parse_model_string(model)
    folder = find_folder(name)
    manifest = read_manifest(folder)
    if version != manifest["version"]:
        manifest = next((m for m in manifest.get("history", []) if m["version"] == version), manifest)
    path = outputs_path(folder, version)
    source = FileSource(
        dataset=f"import {name}@{version} of {Path(manifest['source']).name}", benchmark=manifest["benchmark"] or "",
        host="import", repo=manifest["source"], revision=version, path=str(path), sha256=manifest["sha256"],
        rows=manifest["rows"], mirror=None, license="as the source's", name=path.name)
    file = RecordedFile(outputs=source, labels=None, format=FORMAT, condition=manifest["benchmark"] or model,
                        extra=(("mapping", json.dumps(manifest["mapping"], sort_keys=True)),
                               ("format", manifest["format"])))
    return RecordedRun(model, f"{name} (imported from {Path(manifest['source']).name})", run_shape(manifest),
                       None, (file,))


def imported_rows(file: RecordedFile) -> list[RecordedRow]:
    """The rows of an import version that hold an output, as recorded rows (index = the source's row,
    ``sample`` = the row's sample index)."""
    apart = dict(file.extra)["format"] == "inspect"  # an Inspect reasoning block came apart from the text
    rows = []
    for row in read_rows(Path(file.outputs.path)):
        if not has_output(row):
            continue
        messages = row["messages"]
        system = messages[0]["content"] if messages[0]["role"] == "system" else None
        history = tuple(messages[1 if system is not None else 0:-1])
        reasoning = row["thinking"] if apart and row["output"] is None else None
        output = (row["answer"] or "") if reasoning is not None else _text(row)
        rows.append(RecordedRow(file=file, index=row["row"], system=system, prompt=messages[-1]["content"],
                                output=output, fields={"id": row["id"], **row["category"]}, history=history,
                                reasoning=reasoning, finish_reason=_finish(row), sample=row.get("sample", 0)))
    return rows


def _finish(row: dict[str, Any]) -> str | None:
    """The finish reason the source recorded: an Inspect sample's stop reason (None for other sources)."""
    inspect = row["meta"].get("inspect")
    return FINISH_OF_STOP.get(inspect.get("stop_reason")) if isinstance(inspect, dict) else None


def _text(row: dict[str, Any]) -> str:
    """The row's output: the raw text, or thinking and answer joined in tags (the answer alone without thinking)."""
    if row["output"] is not None:
        return str(row["output"])
    answer = row["answer"] or ""
    return answer if row["thinking"] is None else f"{OPEN_TAG}\n{row['thinking']}\n{CLOSE_TAG}\n{answer}"
