"""The loopback server's imitation of OpenAI's Batch API: uploaded files, batches that move through
their states over ``batch_delay`` seconds (or expire), and each batch's output and error files.
"""

from __future__ import annotations

import json
import time
from email import policy
from email.parser import BytesParser
from typing import Any

from r1lib.testing.replies import Reply, error_body, error_reply, json_reply


def public_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """A batch object without the server's private fields."""
    return {k: v for k, v in batch.items() if not k.startswith("_")}


class BatchImitation:
    """Batch API endpoints of :class:`~r1lib.testing.loopback.LoopbackServer` (it holds the files, batches and lock)."""

    @property
    def batches(self) -> list[dict[str, Any]]:
        """A snapshot of every batch created, oldest first (the batch objects the API returns)."""
        with self._lock:
            return [json.loads(json.dumps(batch)) for batch in self._batches.values()]

    # -- Batch API ---------------------------------------------------------------------------
    def _upload(self, content_type: str, body: bytes) -> Reply:
        self._count("files:upload")
        parsed = BytesParser(policy=policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
        fields: dict[str, bytes] = {}
        filename = "upload.jsonl"
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = part.get_payload(decode=True) or b""
            filename = part.get_filename() or filename
        if "file" not in fields or fields.get("purpose") != b"batch":
            return error_reply(400, "upload a 'file' with purpose 'batch'")
        with self._lock:
            file_id = f"file-{len(self._files) + 1:06d}"
            self._files[file_id] = fields["file"]
        return json_reply(200, {"id": file_id, "object": "file", "bytes": len(fields["file"]), "filename": filename,
                           "created_at": int(time.time()), "purpose": "batch", "status": "processed"})

    def _create_batch(self, request: dict[str, Any]) -> Reply:
        self._count("batches:create")
        if request.get("input_file_id") not in self._files:
            return error_reply(400, f"no input file {request.get('input_file_id')!r}")
        if request.get("endpoint") != "/v1/chat/completions" or request.get("completion_window") != "24h":
            return error_reply(400, "endpoint must be /v1/chat/completions and completion_window 24h")
        now = time.time()
        with self._lock:
            batch_id = f"batch_{len(self._batches) + 1:06d}"
            expires = self.expire_batches > 0
            self.expire_batches -= int(expires)
            self._batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": request["endpoint"], "errors": None,
                "input_file_id": request["input_file_id"], "completion_window": "24h", "status": "in_progress",
                "output_file_id": None, "error_file_id": None, "created_at": int(now),
                "in_progress_at": int(now), "expires_at": int(now) + 86400, "completed_at": None,
                "expired_at": None, "request_counts": {"total": 0, "completed": 0, "failed": 0},
                "metadata": request.get("metadata"), "_ready_at": now + self.batch_delay, "_expires": expires}
        return json_reply(200, public_batch(self._batches[batch_id]))

    def _list_batches(self, query: dict[str, list[str]]) -> Reply:
        self._count("batches:list")
        ids = list(reversed(self._batches))  # newest first, as the API lists them
        if query.get("after"):
            ids = ids[ids.index(query["after"][0]) + 1:] if query["after"][0] in ids else []
        limit = int(query.get("limit", ["20"])[0])
        page = [public_batch(self._advance(i) or {}) for i in ids[:limit]]
        return json_reply(200, {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                           "last_id": page[-1]["id"] if page else None, "has_more": len(ids) > limit})

    def _advance(self, batch_id: str) -> dict[str, Any] | None:
        """The batch, run to its end first when its ``batch_delay`` has passed."""
        batch = self._batches.get(batch_id)
        if batch is None:
            return None
        if batch["status"] == "in_progress" and time.time() >= batch["_ready_at"]:
            self._run_batch(batch)
        return public_batch(batch)

    def _run_batch(self, batch: dict[str, Any]) -> None:
        lines = [json.loads(line) for line in self._files[batch["input_file_id"]].splitlines() if line.strip()]
        runs = len(lines) // 2 if batch["_expires"] else len(lines)
        output, errors = [], []
        for i, line in enumerate(lines):
            entry: dict[str, Any] = {"id": f"batch_req_{batch['id']}_{i}", "custom_id": line.get("custom_id"),
                                     "response": None, "error": None}
            if i >= runs:
                entry["error"] = {"code": "batch_expired",
                                  "message": "This request could not be executed before the completion window expired."}
                errors.append(entry)
                continue
            request = line.get("body") or {}
            fault, prompt = self._draw(request)
            if fault:
                self._count(f"fault:{fault}")
                status, body = (429, error_body("rate limit reached; retry later", "429")) if fault == "429" else \
                    (500, error_body("the server had an error while processing your request", "500"))
            else:
                status, body = self._completion(request, prompt)
            entry["response"] = {"status_code": status, "request_id": f"req_{i}", "body": body}
            (output if status == 200 else errors).append(entry)
        now = int(time.time())
        with self._lock:
            for name, entries in (("output_file_id", output), ("error_file_id", errors)):
                if entries:
                    file_id = f"file-{len(self._files) + 1:06d}"
                    self._files[file_id] = "".join(json.dumps(e) + "\n" for e in entries).encode()
                    batch[name] = file_id
            batch["request_counts"] = {"total": len(lines), "completed": len(output), "failed": len(errors)}
            batch["status"] = "expired" if batch["_expires"] else "completed"
            batch["expired_at" if batch["_expires"] else "completed_at"] = now
