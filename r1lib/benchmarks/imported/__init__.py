"""Outputs made elsewhere, brought in (``r1lib import``): read a source file into normalised rows,
write them as an import folder, and read that folder back as a recorded run and a benchmark.

- :mod:`.rows`: the normalised row (one output with its conversation) and the field mapping that
  makes rows from a table's records;
- :mod:`.tabular`: the readers of JSONL, JSON, CSV, Parquet and Hugging Face datasets, format
  detection and the dispatch to the Inspect-log and lm-evaluation-harness readers
  (``inspect_log``, ``lm_eval_samples``, when present);
- :mod:`.folder`: the import folder ``imports/<NAME>/`` (``outputs.jsonl``, ``manifest.json``,
  ``models.yaml``) and its versions;
- :mod:`.run`: an import folder as a :class:`~r1lib.benchmarks.recorded.RecordedRun`, so the
  ``recorded`` backend answers from it;
- :mod:`.benchmark`: the ``imported/<NAME>`` benchmarks registered from the import folders.
"""
