"""Where a benchmark's raw files come from, and how to get them.

Every file a loader reads is declared as a :class:`FileSource`: its upstream (a GitHub repository at
a pinned commit, or a Hugging Face dataset at a revision), its sha256 and its path in the shared
data mirror. A file is looked up in this order:

1. ``data/raw/<benchmark>/<name>`` (``Settings.data_dir / "raw"``), where ``r1lib data fetch`` puts files;
2. the read-only mirror (``Settings.mirror_dir``, env ``R1LIB_DATA_MIRROR``), which holds byte-identical
   copies of the upstream files (the folder layout is documented in each folder's MANIFEST.md);
3. a download: GitHub through raw URLs at the pinned commit (base URL overridable with
   ``R1LIB_GITHUB_RAW_BASE``), Hugging Face through ``huggingface_hub`` (``HF_ENDPOINT``, ``HF_TOKEN``
   and ``HF_HUB_OFFLINE`` are honoured).

Every file with a known checksum is verified wherever it comes from; a download that does not match
is deleted. Files whose checksum is not known (``sha256=None``) are used as they are, and ``fetch``
prints their checksum so it can be pinned.

**Fixture mode** (tests only; off unless the environment variable ``R1LIB_FIXTURES`` names a
folder, read into ``Settings.fixtures_dir``): every file comes from that folder of project-written
stand-ins instead, laid out like ``data/raw`` (``<benchmark>/<name>``), and nothing else is read:
no ``data/raw``, no mirror, no download, no ``fetch``. A fixture is verified against the folder's
own manifest (:data:`FIXTURE_MANIFEST`: name → sha256 and rows), never against the upstream pins,
which stay strict for real files. Everything made from fixtures says so: :meth:`DataFiles.cite`
names the fixture, the benchmark registry flags every item (``meta["fixture"]``), upstream protocol
text read from a stand-in says so in its origin, a profile's name gains
:data:`FIXTURE_PROFILE_SUFFIX` and fixture items are never comparable to the paper.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from r1lib.config.settings import Settings
from r1lib.core.errors import UserError

GITHUB_RAW_ENV = "R1LIB_GITHUB_RAW_BASE"
DEFAULT_GITHUB_RAW = "https://raw.githubusercontent.com"
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
FIXTURES_ENV = "R1LIB_FIXTURES"
#: The manifest of a fixture folder: ``{"files": {"<benchmark>/<name>": {"sha256": ..., "rows": ...}}}``.
FIXTURE_MANIFEST = "FIXTURES.json"
#: What every item and citation made from a fixture says about itself.
FIXTURE_NOTE = "project-written test fixture, not real data"
#: Appended to a profile's name in fixture mode, so its store, tables, figures and captions say so.
FIXTURE_PROFILE_SUFFIX = "-fixtures"


@dataclass(frozen=True)
class FileSource:
    """One raw file of a benchmark and everything needed to find and verify it.

    ``host`` is ``github`` (``repo`` = owner/name, ``revision`` = commit), ``hf`` (``repo`` = dataset id,
    ``revision`` = commit or branch) or ``mirror`` (a file derived by the mirror's curators, with no
    upstream copy). ``name`` is the file's path under ``data/raw/<benchmark>/`` (default: the base
    name of ``path``). ``rows`` is the number of records the file holds.
    """

    dataset: str
    benchmark: str
    host: str
    repo: str
    revision: str | None
    path: str
    sha256: str | None
    rows: int | None
    mirror: str | None
    license: str
    name: str = ""

    @property
    def local_name(self) -> str:
        """The file's path under ``data/raw/<benchmark>/``."""
        return self.name or Path(self.path).name

    def url(self) -> str | None:
        """Where the file is downloaded from (None for mirror-only files)."""
        if self.host == "github":
            base = os.environ.get(GITHUB_RAW_ENV) or DEFAULT_GITHUB_RAW
            return f"{base.rstrip('/')}/{self.repo}/{self.revision}/{self.path}"
        if self.host == "hf":
            endpoint = os.environ.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT
            return f"{endpoint.rstrip('/')}/datasets/{self.repo}/resolve/{self.revision or 'main'}/{self.path}"
        return None

    def upstream(self) -> str:
        """A one-line citation of the upstream file."""
        if self.host == "mirror":
            return f"shared data mirror: {self.mirror} (derived; no upstream copy)"
        revision = self.revision or "main"
        return f"{self.host}:{self.repo}@{revision[:12]}/{self.path}"


def fixture_mode() -> str:
    """The fixture folder selected by the environment ('' when fixture mode is off).

    A cache key for values read from benchmark files by the default :class:`DataFiles` (e.g. the
    protocol text of upstream modules), so that fixtures and real files never share a cached value;
    cheaper than :meth:`Settings.load`.
    """
    return os.environ.get(FIXTURES_ENV, "")


@dataclass(frozen=True)
class Fixture:
    """One project-written fixture file and the sha256 and row count its folder's manifest pins."""

    path: Path
    sha256: str
    rows: int | None


class DataFiles:
    """Finds (and, when ``download`` is true, downloads) the raw files of benchmarks.

    With ``settings.fixtures_dir`` set it finds only the fixtures of that folder (fixture mode, see
    the module docstring).
    """

    def __init__(self, settings: Settings | None = None, *, download: bool = True):
        self.settings = settings or Settings.load()
        self.download = download
        folder = self.settings.fixtures_dir
        self.fixtures: dict[str, Fixture] | None = None if folder is None else read_fixture_manifest(folder)

    def fixture(self, source: FileSource) -> Fixture | None:
        """The fixture standing in for ``source`` in fixture mode (None when the folder has none)."""
        if self.fixtures is None:
            return None
        return self.fixtures.get(f"{source.benchmark}/{source.local_name}")

    def cite(self, source: FileSource) -> str:
        """A one-line citation of the file in use: the upstream file, or the fixture standing in for it."""
        return self.marked(source.upstream())

    def marked(self, citation: str) -> str:
        """A citation of upstream files as it is, or in fixture mode marked as fixtures standing in for them."""
        return citation if self.fixtures is None else f"FIXTURE ({FIXTURE_NOTE}) standing in for {citation}"

    def pinned_sha256(self, source: FileSource) -> str | None:
        """The sha256 the file in use is verified against: the fixture manifest's, else the upstream pin."""
        if self.fixtures is None:
            return source.sha256
        found = self.fixture(source)
        return found.sha256 if found is not None else None

    def expect_rows(self, source: FileSource, path: Path, count: int) -> None:
        """Raise when a file does not hold the number of records its source (or its fixture) declares."""
        found = self.fixture(source)
        expected = found.rows if self.fixtures is not None and found is not None else source.rows
        if expected is not None and count != expected:
            if self.fixtures is not None:
                raise UserError(f"{source.dataset}: fixture {path} holds {count} records, its manifest says "
                                f"{expected}; rebuild the fixtures (see the README next to {FIXTURE_MANIFEST})")
            raise UserError(f"{source.dataset}: {path} holds {count} records, expected {expected}; it is "
                            f"not the pinned file: delete it and run `r1lib data fetch {source.benchmark}`")

    def raw_path(self, source: FileSource) -> Path:
        """Where ``r1lib data fetch`` keeps the file: ``data/raw/<benchmark>/<name>``."""
        return self.settings.data_dir / "raw" / source.benchmark / source.local_name

    def mirror_path(self, source: FileSource) -> Path | None:
        """The file's path in the mirror, when a mirror is configured and holds it."""
        if self.settings.mirror_dir is None or source.mirror is None:
            return None
        path = self.settings.mirror_dir / source.mirror
        return path if path.is_file() else None

    def local(self, source: FileSource) -> Path | None:
        """The verified local copy (data/raw first, then the mirror; in fixture mode only the fixture),
        or None; never downloads."""
        if self.fixtures is not None:
            return self._local_fixture(source)
        raw = self.raw_path(source)
        if raw.is_file():
            _verify(source, raw, fix=f"delete {raw} and run `r1lib data fetch {source.benchmark}`")
            return raw
        mirrored = self.mirror_path(source)
        if mirrored is not None:
            _verify(source, mirrored, fix="the mirror copy differs from the pinned upstream file; point "
                                          "R1LIB_DATA_MIRROR at an intact mirror, or unset it and run "
                                          f"`r1lib data fetch {source.benchmark}` to download the file")
            return mirrored
        return None

    def path(self, source: FileSource) -> Path:
        """The file's local path, downloading it into data/raw when needed (and allowed)."""
        found = self.local(source)
        if found is not None:
            return found
        if self.fixtures is not None:
            raise UserError(f"{source.dataset}: fixture mode ({FIXTURES_ENV}={self.settings.fixtures_dir}) has no "
                            f"fixture {source.benchmark}/{source.local_name}; add one (see the README next to "
                            f"{FIXTURE_MANIFEST}) or unset {FIXTURES_ENV} to read the real file")
        if not self.download:
            raise UserError(self._missing(source, "downloads are off here"))
        return self._download(source)

    def fetch(self, source: FileSource) -> str:
        """Put the file into data/raw (copy from the mirror or download); return a line saying how."""
        if self.fixtures is not None:
            raise UserError(f"fixture mode ({FIXTURES_ENV}={self.settings.fixtures_dir}) never fetches: fixtures "
                            f"and real files must not mix in data/raw; unset {FIXTURES_ENV} and run the fetch again")
        raw = self.raw_path(source)
        shown = _shown(raw, self.settings.root)
        if raw.is_file():
            self.local(source)
            return f"{source.benchmark}: {shown} already present{_checksum_note(source, raw)}"
        mirrored = self.mirror_path(source)
        if mirrored is not None:
            self.local(source)
            raw.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(mirrored, raw)
            return f"{source.benchmark}: {shown} copied from the mirror ({mirrored})"
        self._download(source)
        return f"{source.benchmark}: {shown} downloaded from {source.url()}{_checksum_note(source, raw)}"

    def _local_fixture(self, source: FileSource) -> Path | None:
        found = self.fixture(source)
        if found is None:
            return None
        if not found.path.is_file():
            raise UserError(f"fixture manifest {found.path.parent} lists {found.path.name}, which does not exist; "
                            "rebuild the fixtures (see the README next to the manifest)")
        digest = _sha256(found.path)
        if digest != found.sha256:
            raise UserError(f"{source.dataset}: fixture {found.path} has sha256 {digest}, its manifest says "
                            f"{found.sha256}; rebuild the fixtures (see the README next to {FIXTURE_MANIFEST})")
        return found.path

    def _download(self, source: FileSource) -> Path:
        if source.host == "mirror":
            raise UserError(self._missing(source, "this file exists only in the shared data mirror"))
        target = self.raw_path(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
            if source.host == "github":
                got = self._download_github(source, Path(tmp) / "file")
            else:
                got = self._download_hf(source, Path(tmp))
            digest = _sha256(got)
            if source.sha256 is not None and digest != source.sha256:
                got.unlink()
                raise UserError(f"{source.dataset}: downloaded {source.local_name} from {source.url()} has "
                                f"sha256 {digest}, expected {source.sha256}; the file was deleted. The "
                                "upstream file changed or the download was corrupted: retry, or check the URL")
            os.replace(got, target)
        return target

    def _download_github(self, source: FileSource, dest: Path) -> Path:
        import httpx  # only when downloading: it costs 0.1 s of every command's start-up

        url = source.url()
        assert url is not None, "GitHub sources always have a URL"
        try:
            with httpx.stream("GET", url, follow_redirects=True,
                              timeout=httpx.Timeout(60.0, connect=10.0)) as response:
                if response.status_code != 200:
                    raise UserError(self._missing(source, f"HTTP {response.status_code} from {url}"))
                with dest.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise UserError(self._missing(source, f"cannot reach {url}: {exc}")) from None
        return dest

    def _download_hf(self, source: FileSource, tmp: Path) -> Path:
        # only when a file is downloaded
        from huggingface_hub import constants, hf_hub_download
        from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError

        if constants.is_offline_mode():
            raise UserError(self._missing(
                source, "HF_HUB_OFFLINE=1 is set (the Makefile sets it); run the command as "
                        f"`HF_HUB_OFFLINE=0 r1lib data fetch {source.benchmark}`"))
        try:
            got = hf_hub_download(source.repo, source.path, repo_type="dataset", revision=source.revision,
                                  local_dir=tmp, endpoint=os.environ.get("HF_ENDPOINT"))
        except GatedRepoError:
            raise UserError(self._missing(
                source, f"the dataset is gated: accept its terms at https://huggingface.co/datasets/"
                        f"{source.repo} and set HF_TOKEN (or run `hf auth login`)")) from None
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(self._missing(source, reason)) from None
        return Path(got)

    def _missing(self, source: FileSource, reason: str) -> str:
        raw = self.raw_path(source)
        if self.settings.mirror_dir is None:
            mirror = "no mirror is configured (set R1LIB_DATA_MIRROR)"
        elif source.mirror is None:
            mirror = "the mirror does not hold this file"
        else:
            mirror = f"the mirror has no {self.settings.mirror_dir / source.mirror}"
        if source.host == "mirror":
            get = f"point R1LIB_DATA_MIRROR at the shared data folder that holds {source.mirror}"
        else:
            get = (f"run `r1lib data fetch {source.benchmark}` with network access, or download "
                   f"{source.url()} to {raw}")
        return (f"{source.dataset}: file {source.local_name} is not available ({reason}); it is not in "
                f"{raw}, and {mirror}. To get it, {get}")


def read_fixture_manifest(folder: Path) -> dict[str, Fixture]:
    """The fixtures of a folder, from its :data:`FIXTURE_MANIFEST` (name → sha256 and rows)."""
    manifest = folder / FIXTURE_MANIFEST
    if not manifest.is_file():
        raise UserError(f"{FIXTURES_ENV}={folder}: no {FIXTURE_MANIFEST} there; point it at a fixture folder "
                        "(tests/fixtures/data) or unset it to read the real benchmark files")
    stat = manifest.stat()
    entries = _manifest_entries(str(manifest), stat.st_size, stat.st_mtime_ns)
    return {name: Fixture(folder / name, sha256, rows) for name, (sha256, rows) in entries.items()}


@lru_cache(maxsize=8)
def _manifest_entries(path: str, size: int, mtime_ns: int) -> dict[str, tuple[str, int | None]]:
    """A fixture manifest's entries, read once per (path, size, mtime)."""
    try:
        files = json.loads(Path(path).read_text(encoding="utf-8"))["files"]
        return {str(name): (str(entry["sha256"]), entry.get("rows")) for name, entry in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"fixture manifest {path} is not valid ({exc!r}); expected "
                        '{"files": {"<benchmark>/<name>": {"sha256": ..., "rows": ...}}}') from None


def _verify(source: FileSource, path: Path, *, fix: str) -> None:
    """Raise when a file with a pinned checksum does not match it."""
    if source.sha256 is None:
        return
    digest = _sha256(path)
    if digest != source.sha256:
        raise UserError(f"{source.dataset}: {path} has sha256 {digest}, expected {source.sha256}; {fix}")


def _sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so repeated loads hash once."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksum_note(source: FileSource, path: Path) -> str:
    if source.sha256 is None:
        return f" (no pinned checksum; its sha256 is {_sha256(path)})"
    return " (sha256 verified)"


def _shown(path: Path, root: Path) -> str:
    """The path relative to the project root when it lies inside it, else in full."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def fetch(name_or_all: str, *, settings: Settings | None = None) -> list[str]:
    """Copy or download the raw files of one benchmark (or ``all``) into data/raw.

    Returns one printable line per file saying where it came from. A file the loader only prefers
    (e.g. the full AIR-Bench set, which replaces the mirror's subset) is reported as skipped when it
    cannot be fetched; a file the benchmark needs raises :class:`UserError`.
    """
    from r1lib.benchmarks.registry import benchmarks, get_benchmark  # here: the registry imports this module

    specs = list(benchmarks().values()) if name_or_all == "all" else [get_benchmark(name_or_all)]
    files = DataFiles(settings)
    lines: list[str] = []
    seen: set[FileSource] = set()
    for spec in specs:
        for source in spec.files:
            if source not in seen:
                seen.add(source)
                lines.append(files.fetch(source))
        for source in spec.preferred:
            if source in seen:
                continue
            seen.add(source)
            try:
                lines.append(files.fetch(source))
            except UserError as exc:
                lines.append(f"{source.benchmark}: skipped {source.local_name} (optional): {exc}")
    return lines
