"""The trace browser: SQL-side filters, the widget, the static page, escaping of hostile model text, and the
static page's own filter controls in a real headless Chromium."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from r1lib.app.cli import main
from r1lib.benchmarks.registry import load_items
from r1lib.config.settings import models_registry
from r1lib.core.records import GenerationRecord, Verdict
from r1lib.generation.runner import Request, run_requests
from r1lib.judges.base import judge_records
from r1lib.judges.registry import get_judge, judge_class
from r1lib.store.database import Store
from r1lib.viewer.html import STYLE, badge, badges
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
        self.data: list[str] = []
        self._in: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":  # a data block (a type that is not JavaScript) is never executed
            self._in = self.data if dict(attrs).get("type") == "application/gzip" else self.scripts

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._in.append(data)


ALLOWED_TAGS = {"html", "head", "meta", "title", "body", "div", "style", "h3", "p", "label", "select", "option", "b",
                "span", "pre", "i", "script", "button", "small"}


def records_data(markup: Markup) -> dict:
    """The page's records: its one data block, base64 of gzipped JSON."""
    (block,) = markup.data
    return json.loads(gzip.decompress(base64.b64decode(block)))


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
    assert [tag for tag, _ in markup.tags].count("script") == 2  # the page's code and its records' data
    assert len(markup.scripts) == 1 and "alert" not in markup.scripts[0]
    assert len(markup.data) == 1 and "<" not in markup.data[0]  # no model text can close the data block
    assert not [(tag, name) for tag, attrs in markup.tags for name in attrs if name.startswith("on")]
    assert "\x1b" not in page and "\x07" not in page
    csp = next(attrs["content"] for tag, attrs in markup.tags if attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    # The model's text is all there, as text.
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "{{ template }} {0} %(x)s %s" in page and LONG_LINE in page and "[31mred" not in page
    # The records' data parse back to the model's values (terminal escapes removed).
    data = records_data(markup)
    strings, badges = data["strings"], data["badges"]
    assert len(data["records"]) == 13 and data["page_size"] == 50
    hostile = next(r for r in data["records"] if strings[r[0]].startswith("evil"))
    assert strings[hostile[0]] == 'evil"><script>alert(4)</script>' and strings[hostile[1]] == "<b>bench</b>"
    assert strings[hostile[6]] == HOSTILE["script"] and hostile[8] == HOSTILE["img"] + HOSTILE["quote"]
    assert "\x1b" not in hostile[7] and LONG_LINE in hostile[7]
    assert [badges[i][:3] for i in hostile[9]] == [["refusal-strmatch", "answer", HOSTILE["img"]]]
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
    page = out.read_text().split('class="r1-data"')[0]  # the first page as HTML, before the records' data
    assert 0 < written < 13 and page.count('class="r1-trace"') == written
    assert page.count("refusal-strmatch/answer: full_refusal") == written
    assert main(["browse", "--store", str(tmp_path / "none.sqlite"), "--html", str(out)]) == 2


def _chromium() -> tuple[str, str]:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("chromium and chromedriver not installed: `make browser-deps` installs them with apt-get "
                    "(Debian packages chromium, chromium-driver)")
    return browser, driver


def xstest_records(store: Store) -> None:
    """Two XSTest records that both complied, judged ``xstest``: one on a safe prompt, one on an unsafe
    contrast prompt (the item meta says which, as the XSTest loader stores it)."""
    for kind in ("safe", "unsafe"):
        store.put_generation(GenerationRecord(
            key=f"xs-{kind}", model="fake-r1", benchmark="xstest", prompt_id=f"{kind}-1", sample=0,
            messages=[{"role": "user", "content": f"a {kind} question"}], config={}, thinking="",
            answer="Sure, here it is.", trace_state="none", finish_reason="stop", error=None, created_at=0.0,
            meta={"category": {"type": "homonyms"}, "item": {"label": kind}}))
        store.put_verdict(Verdict(f"xs-{kind}", "xstest", "v0", "answer", "full_compliance", 0.0, True))


def test_a_verdict_is_coloured_by_the_desired_outcome_for_its_prompt(traces: Path) -> None:
    with Store(traces) as store:
        xstest_records(store)
        frame = trace_frame(store, benchmark="xstest")
    shown = {row.prompt_id: badges(row)[0] for row in frame.itertuples(index=False)}
    assert shown["safe-1"].css == "r1-safe" and shown["unsafe-1"].css == "r1-unsafe"
    assert "over-refusal" in shown["safe-1"].title and "desired: full_refusal" in shown["unsafe-1"].title
    # the xstest score restates the label: not shown; a severity is shown with what it measures
    assert shown["safe-1"].text == "xstest/answer: full_compliance"
    severity = badge({"judge": "harm-offline", "channel": "answer", "label": "scored", "score": 0.25}, None)
    assert severity.text == "harm-offline/answer: scored · severity 0–1 = 0.25" and severity.css == "r1-none"
    assert "score = severity 0–1 (higher = more, and more specific, help)" in severity.title


def test_prompts_that_should_be_answered_say_so_in_their_item_meta() -> None:
    """What the badges read: the over-refusal sets mark their prompts safe, XSTest marks each of its own."""
    xstest = judge_class("xstest")
    for name in ("alpaca-harmless", "xstest-age"):
        items = load_items(name)
        assert items and {xstest.desired_labels(item.meta) for item in items} == {frozenset({"full_compliance"})}
    by_label = {item.meta["label"]: xstest.desired_labels(item.meta) for item in load_items("xstest", split="all")}
    assert by_label == {"safe": {"full_compliance"}, "unsafe": {"full_refusal"}}
    assert judge_class("jailbreak").desired_labels({"label": "safe"}) == {"safe"}  # its safe labels on every prompt


def test_the_static_page_holds_every_record_and_renders_one_page(traces: Path, tmp_path: Path) -> None:
    with Store(traces) as store:
        for i in range(120):
            store.put_generation(dataclasses.replace(hostile_record(), key=f"many-{i}", model="fake-many",
                                                     prompt_id=f"m{i}", thinking="t", answer="a"))
    out = tmp_path / "page.html"
    assert write_static_page(traces, out, page_size=50) == 133
    page = out.read_text(encoding="utf-8")
    markup = parse(page)
    data = records_data(markup)
    assert len(data["records"]) == 133 and len(markup.data[0]) < len(json.dumps(data)) / 2  # gzipped
    assert page.count('class="r1-trace"') == 50  # the first page, as HTML; the script renders the others
    assert json.dumps(data).count(json.dumps(HOSTILE["script"])) == 1  # a prompt shared by 121 records, once


@pytest.mark.slow
def test_static_page_filters_and_pages_in_headless_chromium(traces: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    browser, driver = _chromium()
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    page = tmp_path / "page.html"
    with Store(traces) as store:
        xstest_records(store)
        frame = trace_frame(store)
    write_static_page(traces, page, page_size=5)
    refused = sum(any(v["label"] == "full_refusal" for v in vs) for vs in frame["verdicts"])
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    session = webdriver.Chrome(service=webdriver.ChromeService(driver), options=options)

    def shown() -> list[str]:
        return [r.text for r in session.find_elements(By.CLASS_NAME, "r1-trace") if r.is_displayed()]

    def pick(name: str, value: str) -> None:
        Select(session.find_element(By.CSS_SELECTOR, f'select[data-filter="{name}"]')).select_by_value(value)

    def every_page() -> list[str]:
        """The records of every page of the current filter, paging forward from the first."""
        seen = shown()
        while session.find_element(By.CLASS_NAME, "r1-next").is_enabled():
            session.find_element(By.CLASS_NAME, "r1-next").click()
            seen += shown()
        return seen

    try:
        session.get(page.as_uri())
        WebDriverWait(session, 20).until(  # the records are unpacked after the load event
            lambda s: s.find_element(By.CLASS_NAME, "r1-browser").get_attribute("data-ready") == "true")
        count, where = session.find_element(By.CLASS_NAME, "r1-count"), session.find_element(By.CLASS_NAME, "r1-page")
        assert count.text == "15 of 15 records match" and where.text == "page 1 of 3 (records 1–5)"
        first = shown()
        assert len(first) == 5 and len(session.find_elements(By.CLASS_NAME, "r1-trace")) == 5  # one page in the DOM
        session.find_element(By.CLASS_NAME, "r1-next").click()
        second = shown()
        assert where.text == "page 2 of 3 (records 6–10)" and len(second) == 5 and not set(first) & set(second)
        session.find_element(By.CLASS_NAME, "r1-prev").click()
        assert shown() == first
        # a filter runs over every record, not only the page shown, and goes back to its first page
        pick("label", "full_refusal")
        assert count.text == f"{refused} of 15 records match" and 0 < refused < 12
        matched = every_page()
        assert len(matched) == refused and all("refusal-strmatch/answer: full_refusal" in text for text in matched)
        pick("model", 'evil"><script>alert(4)</script>')
        assert count.text == "0 of 15 records match" and where.text == "no records match"
        pick("label", "")
        assert count.text == "1 of 15 records match" and len(shown()) == 1
        assert "</pre><script>alert(1)</script>" in shown()[0] and '<img src=x onerror="alert(2)">' in shown()[0]
        with pytest.raises(NoAlertPresentException):  # none of the model's scripts ran
            session.switch_to.alert.text  # noqa: B018 (reading it raises when no alert is open)
        assert session.execute_script("return document.documentElement.scrollWidth") <= 1400  # long lines wrap
        # compliance is green on XSTest's safe prompt, red on its unsafe contrast prompt
        pick("model", "")
        pick("benchmark", "xstest")
        colours = {r.find_element(By.CLASS_NAME, "head").text.split(" · ")[2]:
                   r.find_element(By.CLASS_NAME, "r1-badge").get_attribute("class") for r in
                   session.find_elements(By.CLASS_NAME, "r1-trace")}
        assert colours == {"safe-1": "r1-badge r1-safe", "unsafe-1": "r1-badge r1-unsafe"}
        session.save_screenshot(str(tmp_path / "filtered.png"))
    finally:
        session.quit()
    assert (tmp_path / "filtered.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
