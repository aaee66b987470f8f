"""``/batches``: batch operations run in the background through the fake's own routes (§5.2).

A batch is ``pending`` when its POST answers, ``started`` while its operations run and
``finished`` when they are done (MAILCHIMP.md §5.2). It takes the latency model's time: the
per-request latency plus the per-member latency for each operation, the fake's own work
included. Its results are a gzipped tar of JSON files, each an array of
``{"status_code", "operation_id", "response"}`` (``response`` a JSON string), served by the
fake at ``response_body_url``. An operation that is malformed (no method or path, a body that
is not JSON, a path outside the API) fails in the results, not the batch.

Differences from Mailchimp, on purpose: operations run in order; a GET is one page (no
auto-paging); results stay as long as the fake runs.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from ._audience import format_time
from ._problems import Problem, not_found

__all__ = ["FakeBatches", "OperationRunner"]

#: Runs one operation: ``(method, path, query, body text) -> (status, response text)``.
OperationRunner = Callable[[str, str, dict[str, str], str | None], tuple[int, str]]
_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_RESULTS_PER_FILE: Final = 500


@attrs.define
class _Run:
    id: str
    operations: list[Any]
    submitted_at: float
    status: str = "pending"
    finished: int = 0
    errored: int = 0
    completed_at: float | None = None
    archive: bytes = b""


def _problem_text(status: int, title: str, detail: str) -> str:
    return json.dumps(
        {
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": str(uuid.uuid4()),
        }
    )


def _malformed(operation: Any) -> str:  # noqa: PLR0911 - one check a line
    """Why an operation cannot run, or ``""``."""
    if not isinstance(operation, Mapping):
        return "An operation must be an object with method and path."
    method, path = operation.get("method"), operation.get("path")
    if method not in _METHODS:
        return f"method must be one of {', '.join(sorted(_METHODS))}."
    if not isinstance(path, str) or not path.startswith("/"):
        return "path must be a string starting with / (relative to /3.0)."
    if path.rstrip("/").startswith("/batches"):
        return "A batch cannot hold /batches operations."
    if "params" in operation and not isinstance(operation["params"], Mapping):
        return "params must be an object."
    if "body" in operation and not isinstance(operation["body"], str):
        return "body must be the JSON payload as a string."
    return ""


class FakeBatches:
    """The batches of one fake: their state, a runner thread each, their result archives.

    Args:
        run: Carries one operation out through the fake's routes.
        delay: The latency of a batch of ``n`` operations, in seconds.
        stopping: Set when the fake stops (cuts waits short).
        origin: The fake's ``http://host:port``, for ``response_body_url``.
    """

    def __init__(
        self,
        run: OperationRunner,
        delay: Callable[[int], float],
        stopping: threading.Event,
        origin: Callable[[], str],
    ) -> None:
        self._run_operation = run
        self._delay = delay
        self._stopping = stopping
        self._origin = origin
        self._lock = threading.Condition()
        self._runs: dict[str, _Run] = {}
        self._threads: list[threading.Thread] = []
        self._gate = threading.Event()
        self._gate.set()

    # --- for tests ---------------------------------------------------------------------------

    def hold(self) -> None:
        """Keep new and running batches at ``started`` until ``release()``."""
        self._gate.clear()

    def release(self) -> None:
        """Let held batches run."""
        self._gate.set()

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until no batch is pending or started; ``False`` when the timeout passed first."""
        with self._lock:
            return self._lock.wait_for(
                lambda: all(r.status == "finished" for r in self._runs.values()), timeout
            )

    def stop(self) -> None:
        """Let every runner end (the fake is stopping) and join them."""
        self._gate.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    # --- endpoints ---------------------------------------------------------------------------

    def submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /batches``: a pending batch, run in the background."""
        run = _Run(uuid.uuid4().hex[:10], list(body["operations"]), time.time())
        with self._lock:
            self._runs[run.id] = run
            document = self._document(run)
        thread = threading.Thread(target=self._work, args=(run,), daemon=True, name="fake-batch")
        self._threads.append(thread)
        thread.start()
        return document

    def document(self, batch_id: str) -> dict[str, Any]:
        """``GET /batches/{batch_id}``."""
        with self._lock:
            run = self._runs.get(batch_id)
            if run is None:
                raise not_found()
            return self._document(run)

    def documents(self) -> list[dict[str, Any]]:
        """``GET /batches``: every batch, newest first."""
        with self._lock:
            runs = sorted(self._runs.values(), key=lambda r: r.submitted_at, reverse=True)
            return [self._document(r) for r in runs]

    def delete(self, batch_id: str) -> None:
        """``DELETE /batches/{batch_id}``: stop it; its results are gone."""
        with self._lock:
            if self._runs.pop(batch_id, None) is None:
                raise not_found()
            self._lock.notify_all()

    def archive(self, batch_id: str) -> bytes | None:
        """The gzipped tar of a finished batch, or ``None``."""
        with self._lock:
            run = self._runs.get(batch_id)
            return run.archive if run is not None and run.status == "finished" else None

    # --- internals ---------------------------------------------------------------------------

    def _document(self, run: _Run) -> dict[str, Any]:
        finished = run.status == "finished"
        return {
            "id": run.id,
            "status": run.status,
            "total_operations": len(run.operations),
            "finished_operations": run.finished,
            "errored_operations": run.errored,
            "submitted_at": format_time(run.submitted_at),
            "completed_at": format_time(run.completed_at),
            "response_body_url": (
                f"{self._origin()}/batch-results/{run.id}.tar.gz" if finished else ""
            ),
            "_links": [],
        }

    def _alive(self, run: _Run) -> bool:
        with self._lock:
            return self._runs.get(run.id) is run and not self._stopping.is_set()

    def _work(self, run: _Run) -> None:
        began = time.monotonic()
        with self._lock:
            run.status = "started"
            self._lock.notify_all()
        while not self._gate.wait(0.05):
            if not self._alive(run):
                return
        results: list[dict[str, Any]] = []
        for operation in run.operations:
            if not self._alive(run):
                return
            status, response = self._one(operation)
            results.append(
                {
                    "status_code": status,
                    "operation_id": (
                        operation.get("operation_id") if isinstance(operation, Mapping) else None
                    ),
                    "response": response,
                }
            )
            with self._lock:
                run.finished += 1
                run.errored += status >= 400  # noqa: PLR2004
        remaining = self._delay(len(run.operations)) - (time.monotonic() - began)
        if remaining > 0:
            self._stopping.wait(remaining)
        archive = _tar(run.id, results)
        with self._lock:
            run.archive = archive
            run.completed_at = time.time()
            run.status = "finished"
            self._lock.notify_all()

    def _one(self, operation: Any) -> tuple[int, str]:
        problem = _malformed(operation)
        if problem:
            return 400, _problem_text(400, "Bad Request", problem)
        params = {
            str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v)
            for k, v in (operation.get("params") or {}).items()
        }
        try:
            return self._run_operation(
                operation["method"], operation["path"], params, operation.get("body")
            )
        except Problem as refused:
            return refused.status, _problem_text(refused.status, refused.title, refused.detail)


def _tar(batch_id: str, results: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for number, start in enumerate(range(0, max(len(results), 1), _RESULTS_PER_FILE)):
            data = json.dumps(results[start : start + _RESULTS_PER_FILE]).encode("utf-8")
            info = tarfile.TarInfo(f"{batch_id}/{number}.json")
            info.size = len(data)
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
