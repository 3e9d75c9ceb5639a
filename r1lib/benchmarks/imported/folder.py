"""The import folder ``<imports dir>/<NAME>/`` and its versions.

- ``outputs.jsonl``: the normalised rows (:mod:`.rows`) of the current version;
- ``manifest.json``: ``name``, ``source`` (path), ``sha256`` (of the source), ``format``, ``mapping``
  (the field mapping and the trace options), ``benchmark`` (the registered benchmark the rows
  answer, or null), ``judge``, ``version`` (:func:`version_of`), ``rows``, ``imported_at`` and
  ``history`` (the earlier versions' manifests without their own history);
- ``models.yaml``: one model entry ``NAME: {backend: recorded, model: imported/NAME@VERSION, ...}``,
  which :func:`r1lib.config.settings.models_registry` reads from every import folder.

A version is the first 12 hex digits of the sha256 of the source's sha256 and the mapping, so the
same file imported with the same mapping is the same version and changes nothing; another version
keeps the previous rows as ``history/<VERSION>.outputs.jsonl`` (their records keep their model string).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from r1lib.config.settings import ModelConfig, Settings
from r1lib.core.errors import UserError

MODEL_PREFIX = "imported/"
OUTPUTS = "outputs.jsonl"
MANIFEST = "manifest.json"
MODELS = "models.yaml"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: Import folders made known in this process (``import_outputs(imports_dir=...)``), by name.
_FOLDERS: dict[str, Path] = {}


def check_name(name: str) -> str:
    """A model name usable as a folder and benchmark name."""
    if not NAME.fullmatch(name or ""):
        raise UserError(f"--model-name {name!r}: use letters, digits, '.', '_' and '-' (it names the folder "
                        "imports/NAME and the benchmark imported/NAME)")
    return name


def model_string(name: str, version: str) -> str:
    """The ``model:`` of an import's entry: ``imported/NAME@VERSION``."""
    return f"{MODEL_PREFIX}{name}@{version}"


def parse_model_string(model: str) -> tuple[str, str]:
    """(name, version) of ``imported/NAME@VERSION``."""
    name, _, version = model[len(MODEL_PREFIX):].partition("@")
    if not model.startswith(MODEL_PREFIX) or not name or not version:
        raise UserError(f"{model!r} is not an imported run; imported runs are named imported/NAME@VERSION")
    return name, version


def current_run(model: str | None, registry: dict[str, ModelConfig]) -> str | None:
    """The model string of the current version of the import ``model`` (a registry name), or None when it
    is not an import. Its records of earlier versions share its name; ``--model NAME`` in ``judge``,
    ``export`` and ``browse`` keeps only the current version's records by filtering on this string."""
    config = registry.get(model) if model is not None else None
    if config is None or config.backend != "recorded" or not config.model.startswith(MODEL_PREFIX):
        return None
    return config.model


def version_of(sha256: str, mapping: dict[str, Any]) -> str:
    """The version of an import: the source's sha256 and the mapping, hashed (first 12 hex)."""
    payload = json.dumps({"sha256": sha256, "mapping": mapping}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def imports_dir(settings: Settings | None = None) -> Path:
    """Where import folders live: ``R1LIB_IMPORTS`` or ``<project root>/imports``."""
    settings = settings or Settings.load()
    return settings.imports_dir or settings.root / "imports"


def imports_dir_of(given: str | Path | None) -> Path:
    """The imports dir: ``given`` (e.g. ``--imports-dir``), else the settings' (:func:`imports_dir`)."""
    return Path(given).expanduser().resolve() if given else imports_dir()


def remember(folder: Path) -> None:
    """Make an import folder outside the settings' imports dir known to this process."""
    _FOLDERS[folder.name] = folder


def find_folder(name: str, settings: Settings | None = None) -> Path:
    """The import folder of ``name`` (remembered ones first, then the imports dir)."""
    folder = _FOLDERS.get(name) or imports_dir(settings) / name
    if not (folder / MANIFEST).is_file():
        raise UserError(f"no import named {name!r} in {folder.parent}; run `r1lib import FILE --model-name {name}` "
                        "(or set R1LIB_IMPORTS to the folder that holds it)")
    return folder


def folders(settings: Settings | None = None) -> list[Path]:
    """Every import folder: the imports dir's and the remembered ones, by name."""
    root = imports_dir(settings)
    found = {p.parent.name: p.parent for p in root.glob(f"*/{MANIFEST}")} if root.is_dir() else {}
    return [folder for _, folder in sorted({**found, **_FOLDERS}.items())]


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an import folder."""
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{folder / MANIFEST} cannot be read ({exc}); import the file again") from None


def outputs_path(folder: Path, version: str) -> Path:
    """The rows of ``version``: ``outputs.jsonl`` for the current one, else its copy under ``history/``."""
    if read_manifest(folder)["version"] == version:
        return folder / OUTPUTS
    kept = folder / "history" / f"{version}.{OUTPUTS}"
    if not kept.is_file():
        raise UserError(f"import {folder.name} has no version {version} (current: "
                        f"{read_manifest(folder)['version']}); import that file again")
    return kept


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The normalised rows stored in an ``outputs.jsonl``."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_folder(folder: Path, manifest: dict[str, Any], rows: list[dict[str, Any]],
                 entry: dict[str, Any]) -> tuple[bool, str | None]:
    """Write (or keep) an import folder: (whether anything was written, the version it replaced).

    ``manifest`` holds everything but ``history`` and ``imported_at``. The same manifest as the
    folder's is a no-op; the same version with other settings (benchmark, judge, counterpart ...)
    rewrites the manifest and the model entry only; another version moves the current rows to ``history/``.
    """
    previous: dict[str, Any] | None = read_manifest(folder) if (folder / MANIFEST).is_file() else None
    same_version = previous is not None and previous["version"] == manifest["version"]
    if same_version and {k: v for k, v in previous.items() if k not in ("imported_at", "history")} == manifest:
        return False, None
    folder.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, Any]] = previous.get("history", []) if same_version else []
    if previous is not None and not same_version:
        (folder / "history").mkdir(exist_ok=True)
        (folder / OUTPUTS).replace(folder / "history" / f"{previous['version']}.{OUTPUTS}")
        history = [*previous.get("history", []), {k: v for k, v in previous.items() if k != "history"}]
    with (folder / OUTPUTS).open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    full = {**manifest, "imported_at": stamp, "history": history}
    (folder / MANIFEST).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / MODELS).write_text(yaml.safe_dump({"models": {manifest["name"]: entry}}, sort_keys=False),
                                 encoding="utf-8")
    return True, previous["version"] if previous is not None and not same_version else None
