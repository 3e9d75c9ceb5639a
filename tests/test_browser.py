"""The trace browser: SQL-side filters, the widget, the static page, escaping of hostile model text, and the
static page's own filter controls in a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from r1lib.app.cli import main
from r1lib.config.settings import models_registry
from r1lib.core.records import GenerationRecord, Verdict
from r1lib.generation.runner import Request, run_requests
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge
from r1lib.store.database import Store
from r1lib.viewer.html import STYLE
from r1lib.viewer.widget import browse, trace_frame, write_static_page

LONG_LINE = "x" * 100_000
HOSTILE = {
    "script": "</pre><script>alert(1)</script>",
    "img": '<img src=x onerror="alert(2)">',
    "terminal": "\x1b[31mred\x1b[0m \x1b]0;title\x07 bell\x07",
    "braces": "{{ template }} {0} %(x)s %s",
    "quote": '" onmouseover="alert(3)" data-x=\'',
}


def hostile_record() -> GenerationRecord:
    """A record whose every text field, and whose model, benchmark and prompt id, are hostile."""
    return GenerationRecord(
        key="hostile", model='evil"><script>alert(4)</script>', benchmark="<b>bench</b>",
        prompt_id="{{id}}</pre>", sample=0, messages=[{"role": "user", "content": HOSTILE["script"]}], config={},
        thinking=HOSTILE["terminal"] + "\n" + HOSTILE["braces"] + "\n" + LONG_LINE,
        answer=HOSTILE["img"] + HOSTILE["quote"], trace_state="closed", finish_reason="stop",
        error=None, created_at=0.0)


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    """6 fake-r1 and 6 fake-v3 records judged by refusal-strmatch on the answer, plus the hostile record
    with a hostile verdict label."""
    path = tmp_path / "store.sqlite"
    registry = models_registry()
    judge = get_judge("refusal-strmatch")
    with Store(path) as store:
        for model in ("fake-r1", "fake-v3"):
            requests = [Request(f"p{i}", [{"role": "user", "content": f"how do I do thing {i}?"}]) for i in range(6)]
            records, _ = run_requests(registry[model], "demo", requests, store, progress=False)
            judge_records(judge, records, "answer", store, progress=False)
        store.put_generation(hostile_record())
        store.put_verdict(Verdict("hostile", "refusal-strmatch", "v0", "answer", HOSTILE["img"], 0.5, True))
    return path


class Markup(HTMLParser):
    """Every tag, attribute and script body of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


ALLOWED_TAGS = {"html", "head", "meta", "title", "body", "div", "style", "h3", "p", "label", "select", "option", "b",
                "span", "pre", "i", "script"}


def parse(page: str) -> Markup:
    markup = Markup()
    markup.feed(page)
    markup.close()
    return markup


def test_static_page_holds_no_executable_markup_from_the_model(traces: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    assert write_static_page(traces, out) == 13
    page = out.read_text(encoding="utf-8")
    markup = parse(page)
    assert {tag for tag, _ in markup.tags} <= ALLOWED_TAGS
    assert [tag for tag, _ in markup.tags].count("script") == 1
    assert len(markup.scripts) == 1 and "alert" not in markup.scripts[0]
    assert not [(tag, name) for tag, attrs in markup.tags for name in attrs if name.startswith("on")]
    assert "\x1b" not in page and "\x07" not in page
    csp = next(attrs["content"] for tag, attrs in markup.tags if attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    # The model's text is all there, as text.
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "{{ template }} {0} %(x)s %s" in page and LONG_LINE in page and "[31mred" not in page
    # Filter data are attributes that parse back to the model's values.
    hostile = next(attrs for tag, attrs in markup.tags if attrs.get("data-model", "").startswith("evil"))
    assert hostile["data-model"] == 'evil"><script>alert(4)</script>' and hostile["data-benchmark"] == "<b>bench</b>"
    assert json.loads(hostile["data-verdicts"]) == [["refusal-strmatch", "answer", HOSTILE["img"]]]
    options = {attrs["value"] for tag, attrs in markup.tags if tag == "option"}
    assert {'evil"><script>alert(4)</script>', "<b>bench</b>", HOSTILE["img"], "fake-r1", "closed"} <= options


def test_trace_frame_filters_in_sql_and_pages(traces: Path) -> None:
    with Store(traces) as store:
        everything = trace_frame(store)
        refused = trace_frame(store, model="fake-v3", judge="refusal-strmatch", label="full_refusal")
        page = trace_frame(store, limit=5, offset=10)
        closed = trace_frame(store, trace_state="closed")
    assert len(everything) == 13 and len(page) == 3
    assert page["key"].tolist() == everything["key"].tolist()[10:]
    assert 0 < len(refused) < 6 and set(refused["model"]) == {"fake-v3"}
    assert all(any(v["label"] == "full_refusal" for v in vs) for vs in refused["verdicts"])
    expected = sum(any(v["label"] == "full_refusal" for v in vs)
                   for vs, m in zip(everything["verdicts"], everything["model"]) if m == "fake-v3")
    assert len(refused) == expected
    assert closed["key"].tolist() == ["hostile"]


def test_a_label_filter_reads_the_latest_verdict(traces: Path) -> None:
    with Store(traces) as store:
        store.put_verdict(Verdict("hostile", "refusal-strmatch", "v1", "answer", "full_refusal", 1.0, True,
                                  created_at=4e9))
        assert trace_frame(store, label=HOSTILE["img"]).empty
        assert trace_frame(store, label="full_refusal", model=hostile_record().model)["key"].tolist() == ["hostile"]


def test_widget_loads_one_page_of_matching_records(traces: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []
    real = Store.generations_frame

    def recording(self: Store, **kwargs):
        calls.append(kwargs)
        return real(self, **kwargs)

    monkeypatch.setattr(Store, "generations_frame", recording)
    box = browse(traces, judge="refusal-strmatch", page_size=4)
    (pick_model, pick_bench, pick_label, pick_state), pager, pane = box.children[0].children, *box.children[1:]
    assert "records 1–4 of 13" in pane.value and pick_bench.options == ("(any)", "<b>bench</b>", "demo")
    pick_model.value = "fake-v3"
    assert "records 1–4 of 6" in pane.value and "fake-r1 ·" not in pane.value
    pager.value = 1
    assert "records 5–6 of 6" in pane.value
    pick_label.value = "full_refusal"
    shown = pane.value.count('class="r1-trace"')
    assert 0 < shown < 6 and pane.value.count("refusal-strmatch/answer: full_refusal") == shown
    assert calls and all(call["limit"] == 4 for call in calls)  # never the whole store
    pick_state.value = "closed"
    assert "no records match (of 0)" in pane.value


def test_browse_static_gives_the_page_with_its_filters(traces: Path) -> None:
    shown = browse(traces, model="fake-r1", static=True)
    assert shown.data.count('class="r1-trace"') == 6 and 'data-filter="label"' in shown.data
    assert "all 6 matching" in shown.data and STYLE in shown.data


def test_browse_without_ipywidgets_gives_the_static_view(traces: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # as in a kernel without ipywidgets
    shown = browse(traces, limit=3)
    assert shown.data.count('class="r1-trace"') == 3 and "the first 3 of 13" in shown.data


def test_browse_command_writes_the_filtered_page(traces: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "refused.html"
    assert main(["browse", "--store", str(traces), "--judge", "refusal-strmatch", "--verdict", "full_refusal",
                 "--html", str(out)]) == 0
    written = int(capsys.readouterr().out.split()[1])
    page = out.read_text()
    assert 0 < written < 13 and page.count('class="r1-trace"') == written
    assert page.count("refusal-strmatch/answer: full_refusal") == written
    assert main(["browse", "--store", str(tmp_path / "none.sqlite"), "--html", str(out)]) == 2


def _chromium() -> tuple[str, str]:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("chromium and chromedriver not installed: `make browser-deps` installs them with apt-get "
                    "(Debian packages chromium, chromium-driver)")
    return browser, driver


@pytest.mark.slow
def test_static_page_filters_in_headless_chromium(traces: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    browser, driver = _chromium()
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    page = tmp_path / "page.html"
    write_static_page(traces, page)
    with Store(traces) as store:
        frame = trace_frame(store)
    refused = sum(any(v["label"] == "full_refusal" for v in vs) for vs in frame["verdicts"])
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    session = webdriver.Chrome(service=webdriver.ChromeService(driver), options=options)
    try:
        session.get(page.as_uri())
        count = session.find_element(By.CLASS_NAME, "r1-count")
        assert count.text == "showing 13 of 13 records"
        Select(session.find_element(By.CSS_SELECTOR, 'select[data-filter="label"]')).select_by_value("full_refusal")
        assert count.text == f"showing {refused} of 13 records" and 0 < refused < 12
        shown = [r.text for r in session.find_elements(By.CLASS_NAME, "r1-trace") if r.is_displayed()]
        assert len(shown) == refused and all("refusal-strmatch/answer: full_refusal" in text for text in shown)
        Select(session.find_element(By.CSS_SELECTOR, 'select[data-filter="model"]')).select_by_value(
            'evil"><script>alert(4)</script>')
        assert count.text == "showing 0 of 13 records"
        Select(session.find_element(By.CSS_SELECTOR, 'select[data-filter="label"]')).select_by_value("")
        shown = [r.text for r in session.find_elements(By.CLASS_NAME, "r1-trace") if r.is_displayed()]
        assert count.text == "showing 1 of 13 records" and len(shown) == 1
        assert "</pre><script>alert(1)</script>" in shown[0] and '<img src=x onerror="alert(2)">' in shown[0]
        with pytest.raises(NoAlertPresentException):  # none of the model's scripts ran
            session.switch_to.alert.text  # noqa: B018 (reading it raises when no alert is open)
        assert session.execute_script("return document.documentElement.scrollWidth") <= 1400  # long lines wrap
        session.save_screenshot(str(tmp_path / "filtered.png"))
    finally:
        session.quit()
    assert (tmp_path / "filtered.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
