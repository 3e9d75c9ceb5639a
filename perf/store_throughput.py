"""Store performance: insert and query rates at N records, and bytes per record.

Usage: .venv/bin/python perf/store_throughput.py [--records 100000] [--answer-chars 2000]

Each record carries a realistic payload (a prompt, a thinking trace and an answer of the given
sizes). Inserts go through Store.put_generation, one transaction each, as the runner does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from r1lib.core.records import GenerationRecord
from r1lib.store.database import Store


def main() -> None:
    """Print insert rate, lookup rates and size per record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--answer-chars", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.sqlite"
        store = Store(path)
        thinking, answer = "t" * (2 * args.answer_chars), "a" * args.answer_chars
        keys = [f"{i:064x}" for i in range(args.records)]
        start = time.perf_counter()
        for i, key in enumerate(keys):
            store.put_generation(GenerationRecord(
                key=key, model="m", benchmark="b", prompt_id=str(i), sample=0,
                messages=[{"role": "user", "content": "p" * 300}], config={"model": "m"},
                raw_text=answer, thinking=thinking, answer=answer, trace_state="closed", trace_source="tags",
                prompt_tokens=80, reasoning_tokens=500, answer_tokens=250))
        insert_s = time.perf_counter() - start
        start = time.perf_counter()
        done = store.done_keys(keys)
        done_s = time.perf_counter() - start
        start = time.perf_counter()
        fetched = store.get_generations(keys[:10_000])
        get_s = time.perf_counter() - start
        start = time.perf_counter()
        frame = store.generations_frame()
        frame_s = time.perf_counter() - start
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        size = os.path.getsize(path)
        payload = len(thinking) + len(answer) * 2 + 300
        print(f"records: {args.records:,} (payload ≈ {payload:,} chars each)")
        print(f"insert (one transaction per record): {args.records / insert_s:,.0f} records/s ({insert_s:.1f} s)")
        print(f"done_keys over all keys: {len(done) / done_s:,.0f} keys/s ({done_s:.2f} s)")
        print(f"get_generations 10,000 records: {len(fetched) / get_s:,.0f} records/s ({get_s:.2f} s)")
        print(f"generations_frame (all records): {len(frame) / frame_s:,.0f} rows/s ({frame_s:.1f} s)")
        print(f"store size: {size / 1e6:,.1f} MB = {size / args.records:,.0f} bytes/record "
              f"({size / args.records / payload:.2f}× the payload)")


if __name__ == "__main__":
    main()
