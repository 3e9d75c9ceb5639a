"""Where the CyberSecEval datasets live: Meta's PurpleLlama repository at a pinned commit."""

from __future__ import annotations

from r1lib.benchmarks.sources import FileSource
from r1lib.benchmarks.upstream import UpstreamModule

REPO = "meta-llama/PurpleLlama"
COMMIT = "4be64c3a24442b51c76175e6ec67722cc3f5fe38"
LICENSE = "MIT (CybersecurityBenchmarks/LICENSE)"


def cyberseceval_file(dataset: str, benchmark: str, subpath: str, *, sha256: str | None, rows: int,
                      commit: str = COMMIT, in_mirror: bool = True) -> FileSource:
    """A file under ``CybersecurityBenchmarks/datasets/`` (the mirror keeps that layout under ``cyberseceval/``)."""
    return FileSource(dataset=dataset, benchmark=benchmark, host="github", repo=REPO, revision=commit,
                      path=f"CybersecurityBenchmarks/datasets/{subpath}", sha256=sha256, rows=rows,
                      mirror=f"cyberseceval/{subpath}" if in_mirror else None, license=LICENSE)


#: CyberSecEval's benchmark modules that hold its judge, attacker and victim prompts (read as data by
#: :mod:`r1lib.benchmarks.upstream`, never imported): name → sha256 at :data:`COMMIT`.
CODE_SHA256 = {
    "benchmark_utils": "5db9576aa9b468c7f7bbe2f96a47d40ac834644be1eed1fa54a2e110d96a3ffd",
    "interpreter_benchmark": "abf5f65943b3ff9d3beb23e20f32d7fb35f1b2ce6b83c611c8ec8969d8422853",
    "mitre_benchmark": "a8e1df44907c6020e05188ed8bec8cb632bf47223aa5b253fb12b0528e686a25",
    "multiturn_phishing_benchmark": "174f4a934a68777ac61ef61a0639f38915fe903c8ce22dacef7b6d6232be89af",
    "prompt_injection_benchmark": "41bdb19eb6046f4b56fd32ca01ab793318894bc19a3dd037c032cf2e1e1461f0",
}


def code_file(name: str, benchmark: str) -> FileSource:
    """The pinned module ``CybersecurityBenchmarks/benchmark/<name>.py`` (mirror: ``cyberseceval/benchmark_code/``)."""
    return FileSource(dataset=f"CyberSecEval {name}.py (protocol text)", benchmark=benchmark, host="github",
                      repo=REPO, revision=COMMIT, path=f"CybersecurityBenchmarks/benchmark/{name}.py",
                      sha256=CODE_SHA256[name], rows=None, mirror=f"cyberseceval/benchmark_code/{name}.py",
                      license=LICENSE, name=f"benchmark_code/{name}.py")


def code_module(name: str, benchmark: str) -> UpstreamModule:
    """The parsed module (checksum verified, read from the mirror or downloaded at the pinned commit)."""
    return UpstreamModule(code_file(name, benchmark))
