"""Size and write time of the static trace page (``r1lib browse --html OUT``) on the recorded outputs.

Without ``--store`` it first builds a store of the ``recorded`` profile's recorded sets (real
outputs replayed from the data mirror: JBB, Alpaca harmless, personas, XSTest-age and the DeepSeek
jailbreaks; the profile's recorded models only, so no SmolLM2 generation), judged as the notebooks
judge them by the offline judges and the shipped labels (the ``scorers`` entries are left out),
under ``runs/browse-perf/``. Then it writes the page ``--repeat`` times and prints the records, the
bytes written and the median seconds; ``--browser PAGE...`` also loads pages in headless Chromium
and prints how long each takes to load and how many DOM elements it has.

    R1LIB_DATA_MIRROR=/work/shared/data .venv/bin/python perf/browse_page.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

import yaml

from r1lib.app.judging_plan import JUDGING
from r1lib.app.profiles import Profile
from r1lib.app.run import Run
from r1lib.store.database import Store
from r1lib.viewer.widget import write_static_page

#: Whether a page shows its records: at once for a page without a data block, else when it has set
#: ``data-ready`` (the paged page unpacks its records after the load event).
READY = ("return !document.querySelector('script.r1-data') "
         "|| !!document.querySelector('.r1-browser[data-ready]');")
RECORDED_SETS = ("jbb-recorded", "alpaca-harmless", "personas", "xstest-age", "deepseek-jailbreak")


def build_store(path: Path) -> None:
    """The recorded profile's recorded sets, generated (replayed) and judged as :data:`JUDGING` plans."""
    doc = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "profiles" / "recorded.yaml").read_text())
    doc["benchmarks"] = {name: plan for name, plan in doc["benchmarks"].items() if name in RECORDED_SETS}
    doc["models"] = [m for m in doc["models"] if m.startswith("recorded-")]
    doc["pairs"] = [pair for pair in doc["pairs"] if all(m in doc["models"] for m in pair)]
    profile = Profile.from_dict({**doc, "name": "browse-perf", "store": str(path)})
    run = Run(profile, tables_dir=path.parent / "tables", figures_dir=path.parent / "figures", progress=False)
    for benchmark, judge, channel, who in JUDGING:
        if benchmark not in RECORDED_SETS or judge == "scorers":
            continue
        models = [m for m in profile.plan(benchmark).models or profile.models
                  if who == "all" or profile.config(m).reasoning]
        run.evaluate(benchmark, judge=judge, channels=(channel,), models=models)


def main() -> None:
    """Build the store when needed, then time the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="an existing store (default: build one)")
    parser.add_argument("--out", type=Path, default=Path("runs/browse-perf/traces.html"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--browser", type=Path, nargs="*", default=[],
                        help="pages to load in headless Chromium (chromium and chromedriver; e.g. the page just "
                             "written and an older one), timing each load")
    args = parser.parse_args()
    store = args.store or Path("runs/browse-perf/store.sqlite")
    if args.store is None and not store.exists():
        started = time.perf_counter()
        build_store(store.resolve())
        print(f"built {store} in {time.perf_counter() - started:.1f} s")
    with Store(store, create=False) as db:
        print(f"store: {db.count()} generation records, {db.count('verdicts')} verdicts")
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        written = write_static_page(store, args.out)
        seconds.append(time.perf_counter() - started)
    files = sorted(p for p in args.out.parent.glob(f"{args.out.stem}*") if p.is_file())
    size = sum(p.stat().st_size for p in files)
    print(f"page: {written} records, {len(files)} file(s), {size / 1e6:.2f} MB "
          f"({args.out.stat().st_size / 1e6:.2f} MB the page itself); write {statistics.median(seconds):.2f} s "
          f"(median of {args.repeat})")
    for page in args.browser:
        loaded, nodes = browser_load(page)
        print(f"{page}: loaded in headless Chromium in {loaded:.2f} s (median of 3), {nodes:,} DOM elements")


def browser_load(page: Path) -> tuple[float, int]:
    """Seconds from asking headless Chromium for ``page`` until it shows its records (the load event, or
    for the paged page its ``data-ready`` mark), median of 3, and the page's number of DOM elements."""
    from selenium import webdriver  # the test extra; only for --browser

    os.environ.update(SE_OFFLINE="true", SE_AVOID_STATS="true")  # Selenium Manager: no network
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    session = webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)
    try:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            session.get(page.resolve().as_uri())
            while not session.execute_script(READY):
                time.sleep(0.005)
            times.append(time.perf_counter() - started)
        return statistics.median(times), int(session.execute_script("return document.getElementsByTagName('*').length"))
    finally:
        session.quit()


if __name__ == "__main__":
    main()
