"""The Batch API (OpenAI's ``/v1/files`` and ``/v1/batches``) for model entries with ``batch: true``.

Instead of one call per request, the pending requests of a run are written as JSONL lines
(``custom_id`` = the record key, ``body`` = :meth:`OpenAIBackend.request_body`, the very body a
synchronous call posts), uploaded (``/v1/files``, purpose ``batch``) and submitted
(``/v1/batches``, endpoint ``/v1/chat/completions``, completion window 24 h). The run then polls
each batch with a growing interval and, when it ends, downloads its output and error files and
yields one :class:`~r1lib.generation.backends.base.Completion` per record key, read with the same
:func:`~r1lib.generation.backends.openai_replies.parse_response` and
:func:`~r1lib.generation.backends.openai_replies.status_outcome`
as a synchronous call, so the stored records are the same (apart from ``latency_s``, which a batch
does not have, and ``meta``: ``billing: batch`` and the ``batch`` id).

- **Resumable.** Every submission is a row of the store's ``batches`` table, written as soon as
  its input file is uploaded and updated with the batch id once created. A later run (after a
  crash, Ctrl-C or SIGKILL while polling) that asks for the same record keys picks up the open
  batches that hold them instead of submitting again; a row whose create was never confirmed is
  matched against the provider's batch list by its input file before anything is created.
- **Partial results.** Lines that failed with a retryable fault (429, 5xx, a malformed body) and
  lines an expired batch never ran are submitted again, alone, up to ``options.max_attempts``
  batches per key (a record's ``attempts`` counts the batches it went through); blocks and
  other 4xx are final, as for synchronous calls. A batch the
  provider marked ``failed`` or ``cancelled`` gives error records (retried by the next run).
- **Limits.** A submission holds at most ``options.batch_max_requests`` lines (default 50,000)
  and ``options.batch_max_bytes`` bytes (default 190 MB), under the provider's 50,000 / 200 MB.
- **Polling.** At once, then after ``options.batch_poll_s`` seconds (default 30), 1.5 times longer
  each time up to ``options.batch_poll_max_s`` (default 600); a poll that fails on a network or
  server fault is logged and tried again.

Records made here carry ``meta["billing"] = "batch"``: the provider bills them at its batch price
(``pricing.batch_discount`` of the model entry, e.g. 0.5 for half price).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import openai
from openai import AsyncOpenAI

from r1lib.config.settings import ModelConfig
from r1lib.core.errors import UserError
from r1lib.core.records import Messages
from r1lib.generation.backends.base import Completion
from r1lib.generation.backends.openai_api import OpenAIBackend, tls_context
from r1lib.generation.backends.openai_replies import is_block, parse_response, status_hint, status_outcome, well_formed
from r1lib.store.database import Store

ENDPOINT = "/v1/chat/completions"
#: Provider statuses after which a batch changes no more.
TERMINAL = frozenset({"completed", "expired", "failed", "cancelled"})
#: Where requests go when a batch entry names no base_url (the openai client's default).
DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOG = logging.getLogger(__name__)


async def batch_generate(config: ModelConfig, conversations: Sequence[Messages], keys: Sequence[str],
                         store: Store) -> AsyncIterator[tuple[int, Completion]]:
    """Yield ``(index, completion)`` for every conversation, through the Batch API.

    ``keys`` are the record keys of the conversations (distinct); they become the lines'
    ``custom_id`` and identify open batches in ``store`` across runs.
    """
    if config.backend != "openai":
        raise UserError(f"model {config.name!r}: batch: true needs backend openai, not {config.backend!r}")
    if len(config.base_url) > 1:
        raise UserError(f"model {config.name!r}: batch: true sends to one server; list one base_url, "
                        f"not {len(config.base_url)}")
    batches = Batches(config, store)
    try:
        async for item in batches.run(conversations, keys):
            yield item
    finally:
        await batches.client.close()


class Batches:
    """The batches of one model on one server: submit, find again, poll, collect."""

    def __init__(self, config: ModelConfig, store: Store):
        self.config = config
        self.store = store
        self.backend = OpenAIBackend(config)
        self.base_url = config.base_url[0] if config.base_url else DEFAULT_BASE_URL
        options = config.options
        self.max_requests = int(options.get("batch_max_requests", 50_000))
        self.max_bytes = int(options.get("batch_max_bytes", 190_000_000))
        self.poll_s = float(options.get("batch_poll_s", 30.0))
        self.poll_max_s = float(options.get("batch_poll_max_s", 600.0))
        self.client = AsyncOpenAI(base_url=self.base_url, api_key=self.backend.api_key, max_retries=3,
                                  timeout=self.backend.timeout,
                                  http_client=openai.DefaultAsyncHttpxClient(verify=tls_context()))

    async def run(self, conversations: Sequence[Messages],
                  keys: Sequence[str]) -> AsyncIterator[tuple[int, Completion]]:
        """Submit (or find) batches until every key has a final completion."""
        index = {key: i for i, key in enumerate(keys)}
        requested = set(keys)
        pending = set(keys)
        attempts: Counter[str] = Counter()
        collected: set[str] = set()  # rows handled in this run
        while pending:
            jobs = [row for row in self.store.open_batches(self.base_url)
                    if row["input_file_id"] not in collected and pending.intersection(row["keys"])]
            covered = {key for row in jobs for key in row["keys"]}
            fresh = [key for key in keys if key in pending and key not in covered]
            for chunk in self._chunks(fresh, conversations, index):
                jobs.append(await self._submit(chunk))
            for row in jobs:
                if row["batch_id"] is None:
                    await self._confirm(row)
            async for row, batch_id, results in self._poll(jobs):
                collected.add(row["input_file_id"])
                for key in pending.intersection(row["keys"]):
                    attempts[key] += 1
                    outcome = results.get(key, "no result line for this request in the batch's files")
                    if isinstance(outcome, str):  # worth sending again, if attempts are left
                        if attempts[key] < self.backend.max_attempts:
                            continue
                        outcome = Completion(error=f"failed after {attempts[key]} attempts: {outcome}")
                    outcome.attempts = attempts[key]
                    outcome.meta = {"billing": "batch", "batch": batch_id}
                    pending.discard(key)
                    yield index[key], outcome
                unresolved = [k for k in row["keys"] if k not in requested]
                if not unresolved or len(self.store.done_keys(unresolved)) == len(unresolved):
                    self.store.update_batch(row["input_file_id"], "collected")

    def _chunks(self, keys: list[str], conversations: Sequence[Messages],
                index: dict[str, int]) -> Iterator[tuple[list[str], bytes]]:
        """The JSONL input files for ``keys``, each within the request and byte limits."""
        chunk: list[str] = []
        lines: list[bytes] = []
        size = 0
        for key in keys:
            line = json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT,
                               "body": self.backend.request_body(conversations[index[key]])},
                              ensure_ascii=False).encode() + b"\n"
            if chunk and (len(chunk) >= self.max_requests or size + len(line) > self.max_bytes):
                yield chunk, b"".join(lines)
                chunk, lines, size = [], [], 0
            chunk.append(key)
            lines.append(line)
            size += len(line)
        if chunk:
            yield chunk, b"".join(lines)

    async def _submit(self, chunk: tuple[list[str], bytes]) -> dict[str, Any]:
        """Upload one input file, record it in the store, create its batch."""
        keys, data = chunk
        uploaded = await self._call("upload the batch input file", self.client.files.create(
            file=("r1lib-batch.jsonl", data), purpose="batch"))
        self.store.put_batch(uploaded.id, self.config.name, self.base_url, keys)
        row = {"input_file_id": uploaded.id, "batch_id": None, "keys": keys}
        await self._create(row)
        return row

    async def _confirm(self, row: dict[str, Any]) -> None:
        """A row uploaded but never confirmed created: adopt its batch if the provider has one."""
        async for batch in self.client.batches.list(limit=100):
            if batch.input_file_id == row["input_file_id"]:
                LOG.info("%s: found batch %s for input file %s", self.config.name, batch.id, row["input_file_id"])
                self.store.update_batch(row["input_file_id"], batch.status, batch.id)
                row["batch_id"] = batch.id
                return
            if batch.created_at < row["created_at"] - 3600:  # listed newest first: it is not there
                break
        await self._create(row)

    async def _create(self, row: dict[str, Any]) -> None:
        batch = await self._call("create the batch", self.client.batches.create(
            input_file_id=row["input_file_id"], endpoint=ENDPOINT, completion_window="24h",
            metadata={"r1lib_model": self.config.name}))
        self.store.update_batch(row["input_file_id"], batch.status, batch.id)
        row["batch_id"] = batch.id
        discount = self.config.pricing.get("batch_discount")
        price = f"{100 * discount:g}% off" if discount is not None else "discount not in the models file"
        LOG.info("%s: submitted batch %s of %d requests (billed at the batch price: %s)",
                 self.config.name, batch.id, len(row["keys"]), price)

    async def _poll(self, jobs: list[dict[str, Any]]) -> AsyncIterator[tuple[dict[str, Any], str, dict[str, Any]]]:
        """Yield ``(row, batch id, results by key)`` for each batch as it ends."""
        waiting = list(jobs)
        delay = self.poll_s
        while waiting:
            for row in list(waiting):
                try:
                    batch = await self.client.batches.retrieve(row["batch_id"])
                except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
                    LOG.warning("%s: polling batch %s failed (%s); trying again", self.config.name,
                                row["batch_id"], exc)
                    continue
                except openai.APIStatusError as exc:
                    raise self._refused(f"poll batch {row['batch_id']}", exc) from None
                if batch.status != row.get("status"):
                    row["status"] = batch.status
                    self.store.update_batch(row["input_file_id"], batch.status)
                if batch.status in TERMINAL:
                    waiting.remove(row)
                    yield row, batch.id, await self._results(batch, row["keys"])
            if waiting:
                LOG.info("%s: %d batch(es) running; next poll in %.3g s", self.config.name, len(waiting), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, self.poll_max_s)

    async def _results(self, batch: Any, keys: list[str]) -> dict[str, Completion | str]:
        """Each line's outcome by key: a final completion, or the reason it is worth sending again."""
        results: dict[str, Completion | str] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await self._call("download the batch results", self.client.files.content(file_id))
            for line in content.text.splitlines():
                if line.strip():
                    entry = json.loads(line)
                    results[entry["custom_id"]] = line_outcome(entry, self.config)
        if batch.status in ("failed", "cancelled"):
            errors = batch.errors.data if batch.errors and batch.errors.data else []
            detail = "; ".join(f"{e.code}: {e.message}" for e in errors)
            final = f"batch {batch.id} {batch.status}" + (f" ({detail})" if detail else "")
            for key in keys:
                if isinstance(results.get(key, ""), str):
                    results[key] = Completion(error=final)
        return results

    async def _call(self, what: str, request: Any) -> Any:
        """A batch-management call (the client retries faults 3 times); then it stops the run."""
        try:
            return await request
        except openai.APIStatusError as exc:
            raise self._refused(what, exc) from None
        except openai.APIConnectionError as exc:
            raise UserError(f"model {self.config.name!r}: cannot {what} at {self.base_url} ({exc}); "
                            "run again to resume (submitted batches are picked up)") from None

    def _refused(self, what: str, exc: openai.APIStatusError) -> UserError:
        return UserError(f"model {self.config.name!r}: cannot {what} at {self.base_url}: HTTP {exc.status_code} "
                         f"{exc.message}{status_hint(exc.status_code, self.config)}; does the provider offer "
                         "the Batch API? (set batch: false to send calls one by one)")


def line_outcome(entry: dict[str, Any], config: ModelConfig) -> Completion | str:
    """One output or error line: a final completion (an answer, a block, a final error), or the
    reason the request is worth sending again (a retryable fault, or it never ran)."""
    response = entry.get("response") or {}
    status, body = response.get("status_code"), response.get("body")
    if status == 200:
        return parse_response(body) if well_formed(body) else "malformed response body (no choices)"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = entry.get("error") or {}
    code, message = error.get("code"), str(error.get("message") or "")[:300]
    if status is None:  # the request never ran: the batch expired or was cancelled first
        if is_block(code, message):
            return Completion(blocked=f"{code or 'blocked'}: {message}")
        return f"{code or 'not run'}: {message}"
    final = status_outcome(status, code, message, config)
    return final if final is not None else f"HTTP {status}: {message}"
