"""Where the CyberSecEval datasets live: Meta's PurpleLlama repository at a pinned commit."""

from __future__ import annotations

from r1lib.benchmarks.sources import FileSource

REPO = "meta-llama/PurpleLlama"
COMMIT = "4be64c3a24442b51c76175e6ec67722cc3f5fe38"
LICENSE = "MIT (CybersecurityBenchmarks/LICENSE)"


def cyberseceval_file(dataset: str, benchmark: str, subpath: str, *, sha256: str | None, rows: int,
                      commit: str = COMMIT, in_mirror: bool = True) -> FileSource:
    """A file under ``CybersecurityBenchmarks/datasets/`` (the mirror keeps that layout under ``cyberseceval/``)."""
    return FileSource(dataset=dataset, benchmark=benchmark, host="github", repo=REPO, revision=commit,
                      path=f"CybersecurityBenchmarks/datasets/{subpath}", sha256=sha256, rows=rows,
                      mirror=f"cyberseceval/{subpath}" if in_mirror else None, license=LICENSE)
