"""Raw-file resolution: data/raw, the mirror, and downloads from a loopback HTTP server standing in for
GitHub raw and the Hugging Face endpoint (checksums, 404s, offline errors, ``fetch``); fixture mode."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from huggingface_hub import constants as hf_constants

from r1lib.app.profiles import Profile
from r1lib.benchmarks import airbench, interpreter, jailbreak, mitre
from r1lib.benchmarks.registry import load_items
from r1lib.benchmarks.sources import (
    FIXTURE_MANIFEST,
    FIXTURE_NOTE,
    FIXTURE_PROFILE_SUFFIX,
    FIXTURES_ENV,
    DataFiles,
    FileSource,
    fetch,
)
from r1lib.config.settings import Settings
from r1lib.core.errors import UserError
from r1lib.testing import free_port

COMMIT = "c" * 40


class FileServer:
    """Serves the files under ``root`` (GET and HEAD; 404 otherwise) and records the paths asked for."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, with_body: bool) -> None:
                server.requests.append(self.path)
                path = server.root / self.path.lstrip("/")
                if not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.end_headers()
                if with_body:
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply(True)

            def do_HEAD(self) -> None:
                self._reply(False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def put(self, relative: str, data: bytes) -> None:
        """Serve ``data`` at ``/relative``."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FileServer]:
    served = FileServer(tmp_path / "served")
    thread = threading.Thread(target=served.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()
    thread.join()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No mirror, no fixtures, an empty data dir: every file must be downloaded."""
    return replace(Settings.load(), data_dir=tmp_path / "data", mirror_dir=None, fixtures_dir=None)


@pytest.fixture
def github(server: FileServer, monkeypatch: pytest.MonkeyPatch) -> FileServer:
    monkeypatch.setenv("R1LIB_GITHUB_RAW_BASE", server.url)
    return server


@pytest.fixture
def hub(server: FileServer, monkeypatch: pytest.MonkeyPatch) -> FileServer:
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    return server


def github_source(data: bytes | None, *, sha256: str | None = None) -> FileSource:
    return FileSource(dataset="Test data", benchmark="demo", host="github", repo="owner/repo", revision=COMMIT,
                      path="sets/demo.json", rows=None, mirror="demo/demo.json", license="MIT",
                      sha256=sha256 if sha256 is not None else hashlib.sha256(data or b"").hexdigest())


def test_github_download_is_verified_stored_and_reused(github: FileServer, settings: Settings) -> None:
    data = b'[{"x": 1}]'
    github.put(f"owner/repo/{COMMIT}/sets/demo.json", data)
    files = DataFiles(settings)
    path = files.path(github_source(data))
    assert path == settings.data_dir / "raw" / "demo" / "demo.json"
    assert path.read_bytes() == data
    assert github.requests == [f"/owner/repo/{COMMIT}/sets/demo.json"]
    assert files.path(github_source(data)) == path
    assert len(github.requests) == 1
    assert [p.name for p in path.parent.iterdir()] == ["demo.json"]


def test_checksum_mismatch_deletes_the_download(github: FileServer, settings: Settings) -> None:
    github.put(f"owner/repo/{COMMIT}/sets/demo.json", b"tampered")
    expected = "0" * 64
    with pytest.raises(UserError) as error:
        DataFiles(settings).path(github_source(None, sha256=expected))
    message = str(error.value)
    assert "demo.json" in message and expected in message and hashlib.sha256(b"tampered").hexdigest() in message
    assert list((settings.data_dir / "raw" / "demo").iterdir()) == []


def test_404_names_dataset_file_and_url(github: FileServer, settings: Settings) -> None:
    with pytest.raises(UserError) as error:
        DataFiles(settings).path(github_source(b"x"))
    message = str(error.value)
    url = f"{github.url}/owner/repo/{COMMIT}/sets/demo.json"
    assert "Test data" in message and "demo.json" in message and url in message and "HTTP 404" in message
    assert "r1lib data fetch demo" in message


def test_no_mirror_and_no_network_is_an_actionable_error(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R1LIB_GITHUB_RAW_BASE", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(UserError) as error:
        load_items("interpreter", settings=settings)
    message = str(error.value)
    assert "CyberSecEval interpreter" in message and "interpreter.json" in message
    assert "no mirror is configured (set R1LIB_DATA_MIRROR)" in message
    assert "r1lib data fetch interpreter" in message and interpreter.SOURCE.url() in message


def test_mirror_only_file_without_mirror_points_at_the_mirror(settings: Settings) -> None:
    with pytest.raises(UserError, match="exists only in the shared data mirror.*R1LIB_DATA_MIRROR"):
        DataFiles(settings).path(airbench.SUBSET)


@pytest.mark.mirror
def test_registered_benchmark_downloads_its_pinned_file(github: FileServer, settings: Settings, mirror: Path) -> None:
    github.put(f"{interpreter.SOURCE.repo}/{interpreter.SOURCE.revision}/{interpreter.SOURCE.path}",
               (mirror / interpreter.SOURCE.mirror).read_bytes())
    assert len(load_items("interpreter", settings=settings)) == 500
    lines = fetch("interpreter", settings=settings)
    assert lines == ["interpreter: " + str(settings.data_dir / "raw" / "interpreter" / "interpreter.json")
                     + " already present (sha256 verified)"]


def test_hugging_face_download_through_the_endpoint(hub: FileServer, settings: Settings) -> None:
    data = b"cate-idx,l2-name,l3-name,l4-name,prompt\n1.1.1,a,b,c,hello\n"
    source = replace(airbench.FULL, benchmark="demo")
    hub.put(f"datasets/{source.repo}/resolve/{source.revision}/{source.path}", data)
    files = DataFiles(settings)
    line = files.fetch(source)
    assert "downloaded from" in line and hashlib.sha256(data).hexdigest() in line and "no pinned checksum" in line
    assert files.raw_path(source).read_bytes() == data


@pytest.mark.mirror
def test_full_airbench_is_preferred_once_fetched_and_row_counts_are_checked(hub: FileServer, tmp_path: Path) -> None:
    settings = replace(Settings.load(), data_dir=tmp_path / "data")
    hub.put(f"datasets/{airbench.FULL.repo}/resolve/{airbench.FULL.revision}/{airbench.FULL.path}",
            b"cate-idx,l2-name,l3-name,l4-name,prompt\n1.1.1,a,b,c,hello\n")
    lines = fetch("airbench", settings=settings)
    assert any("air_2024.csv downloaded from" in line for line in lines)
    assert any("prompts_subset.csv copied from the mirror" in line for line in lines)
    with pytest.raises(UserError, match="holds 1 records, expected 5694"):
        load_items("airbench", settings=settings)


def test_hugging_face_offline_mode_says_how_to_go_online(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match=r"HF_HUB_OFFLINE=0 r1lib data fetch airbench"):
        DataFiles(settings).path(airbench.FULL)


@pytest.mark.mirror
def test_optional_file_that_cannot_be_fetched_is_reported_not_fatal(settings: Settings, mirror: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    lines = fetch("airbench", settings=replace(settings, mirror_dir=mirror))
    assert any(line.startswith("airbench: skipped air_2024.csv (optional)") for line in lines)
    assert sum("copied from the mirror" in line for line in lines) == 2


def test_corrupt_local_copy_is_reported_with_the_fix(settings: Settings) -> None:
    source = github_source(b"good")
    raw = DataFiles(settings).raw_path(source)
    raw.parent.mkdir(parents=True)
    raw.write_bytes(b"bad")
    with pytest.raises(UserError, match=r"expected .*delete .*demo\.json and run `r1lib data fetch demo`"):
        DataFiles(settings).path(source)


def test_mirror_copy_is_verified_and_fetch_copies_it(tmp_path: Path, settings: Settings) -> None:
    source = github_source(b"mirror data")
    mirror = tmp_path / "mirror"
    (mirror / "demo").mkdir(parents=True)
    (mirror / "demo" / "demo.json").write_bytes(b"mirror data")
    files = DataFiles(replace(settings, mirror_dir=mirror))
    assert files.path(source) == mirror / "demo" / "demo.json"
    assert "copied from the mirror" in files.fetch(source)
    assert files.raw_path(source).read_bytes() == b"mirror data"
    shutil.rmtree(files.raw_path(source).parent)
    (mirror / "demo" / "demo.json").write_bytes(b"changed")
    with pytest.raises(UserError, match="mirror copy differs"):
        files.path(source)


def test_fetch_of_an_unknown_benchmark_lists_the_known_ones(settings: Settings) -> None:
    with pytest.raises(UserError, match="unknown benchmark 'nope'.*airbench"):
        fetch("nope", settings=settings)


@pytest.mark.mirror
def test_fetched_paper_files_replace_the_fallbacks(github: FileServer, hub: FileServer, tmp_path: Path) -> None:
    """Synthetic stand-ins for the augmented MITRE file and WildGuardTest (neither is in the mirror)."""
    settings = replace(Settings.load(), data_dir=tmp_path / "data")
    tactics = ["C2", "Collection", "Discovery", "Evasion", "Execution", "Exfil", "Lateral Movement",
               "Persistence", "Privilege Escalation", "Recon"]
    augmented = [{"base_prompt": f"b{i}", "mutated_prompt_base": "", "mutated_prompt": f"m{i}",
                  "mitre_category": tactics[i % 10], "ttp_id_name_mapping": {}} for i in range(1000)]
    github.put(f"{mitre.AUGMENTED.repo}/{mitre.AUGMENTED.revision}/{mitre.AUGMENTED.path}",
               json.dumps(augmented).encode())
    wildguard = pd.DataFrame({
        "prompt": [f"prompt {i // 2 if i < 10 else i}" for i in range(1725)],
        "adversarial": [i % 2 == 0 or i < 10 for i in range(1725)],
        "prompt_harm_label": ["harmful" if i % 3 else "unharmful" for i in range(1725)],
        "subcategory": ["others"] * 1725})
    parquet = tmp_path / "wgt.parquet"
    wildguard.to_parquet(parquet)
    hub.put(f"datasets/{jailbreak.WILDGUARD.repo}/resolve/main/{jailbreak.WILDGUARD.path}", parquet.read_bytes())

    fetch("mitre", settings=settings)
    items = load_items("mitre", settings=settings)
    assert len(items) == 377 and {i.meta["source"] for i in items} == {"mitre-augmented"}
    assert len(load_items("mitre", split="full", settings=settings)) == 1000
    assert items[0].messages == [{"role": "user", "content": f"m{items[0].id.removeprefix('aug-')}"}]

    fetch("jailbreak", settings=settings)
    chosen = wildguard[wildguard["adversarial"] & (wildguard["prompt_harm_label"] == "harmful")]
    items = load_items("jailbreak", settings=settings)
    assert len(items) == chosen["prompt"].nunique()
    assert {i.meta["source"] for i in items} == {"wildguardtest"}
    assert all(i.meta["goal"] == i.messages[0]["content"] for i in items)
    assert load_items("jailbreak", split="artifacts", settings=settings)[0].meta["source"] == "jailbreakbench-artifacts"


# -- fixture mode -------------------------------------------------------------------------------------

@pytest.fixture
def fixtures(tmp_path: Path, fixture_folder: Path) -> Settings:
    """Fixture mode on a copy of the project's fixtures, with an empty data dir."""
    folder = tmp_path / "fixtures"
    shutil.copytree(fixture_folder, folder)
    return replace(Settings.load(), data_dir=tmp_path / "data", fixtures_dir=folder)


def test_fixture_mode_reads_only_the_fixtures_verified_by_their_own_manifest(fixtures: Settings) -> None:
    raw = DataFiles(replace(fixtures, fixtures_dir=None)).raw_path(interpreter.SOURCE)
    raw.parent.mkdir(parents=True)
    raw.write_text("[]")  # a data/raw copy is never read in fixture mode
    files = DataFiles(fixtures)
    path = files.path(interpreter.SOURCE)
    assert path == fixtures.fixtures_dir / "interpreter" / "interpreter.json"
    manifest = json.loads((fixtures.fixtures_dir / FIXTURE_MANIFEST).read_text())["files"]
    assert files.pinned_sha256(interpreter.SOURCE) == manifest["interpreter/interpreter.json"]["sha256"]
    assert files.pinned_sha256(interpreter.SOURCE) != interpreter.SOURCE.sha256
    assert files.cite(interpreter.SOURCE).startswith(f"FIXTURE ({FIXTURE_NOTE}) standing in for github:")
    files.expect_rows(interpreter.SOURCE, path, 10)  # the fixture's row count, not the upstream 500
    with pytest.raises(UserError, match="fixture .* holds 500 records, its manifest says 10"):
        files.expect_rows(interpreter.SOURCE, path, 500)


def test_a_changed_fixture_is_refused(fixtures: Settings) -> None:
    path = fixtures.fixtures_dir / "xstest" / "xstest_prompts.csv"
    path.write_text(path.read_text() + "99,extra,homonyms,safe,x,y\n")
    with pytest.raises(UserError, match=r"fixture .*xstest_prompts\.csv has sha256 .* its manifest says"):
        load_items("xstest", settings=fixtures)


def test_fixture_mode_never_falls_back_to_real_files_or_fetches(fixtures: Settings) -> None:
    files = DataFiles(fixtures)
    raw = files.raw_path(airbench.FULL)
    raw.parent.mkdir(parents=True)
    raw.write_text("cate-idx,l2-name,l3-name,l4-name,prompt\n")
    assert files.local(airbench.FULL) is None
    with pytest.raises(UserError, match=r"fixture mode \(R1LIB_FIXTURES=.*\) has no fixture airbench/air_2024\.csv"):
        files.path(airbench.FULL)
    with pytest.raises(UserError, match="never fetches"):
        fetch("xstest", settings=fixtures)
    assert [p.name for p in fixtures.data_dir.rglob("*") if p.is_file()] == ["air_2024.csv"]


def test_fixture_mode_is_off_unless_the_environment_selects_it(monkeypatch: pytest.MonkeyPatch,
                                                               fixture_folder: Path) -> None:
    monkeypatch.delenv(FIXTURES_ENV)
    assert Settings.load().fixtures_dir is None and DataFiles().fixtures is None
    monkeypatch.setenv(FIXTURES_ENV, str(fixture_folder))
    assert Settings.load().fixtures_dir == fixture_folder


def test_a_fixture_profile_says_so_in_its_name_and_store(fixtures: Settings) -> None:
    profile = Profile.load("ci", settings=fixtures)
    assert profile.name == f"ci{FIXTURE_PROFILE_SUFFIX}"
    assert profile.store_path == fixtures.runs_dir / "ci-fixtures" / "store.sqlite"
    assert Profile.load("ci", settings=replace(fixtures, fixtures_dir=None)).name == "ci"
