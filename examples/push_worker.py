# ruff: noqa: INP001, T201 - an example module run as a script (no package), printing its demo
"""Push AuditCase saves to Mailchimp from one worker thread that never dies.

The worker of the push-on-save how-to (``docs/how-to/push-on-save.md``), as a module an
AuditCase plugin can copy. AuditCase's save hook calls :meth:`PushWorker.person_saved` (or
:meth:`PushWorker.person_deleted`), which only queues and returns at once; one worker thread
pushes the queue with :func:`~auditcase_mailchimp.push_persons`.

What it promises:

- **A save is kept until Mailchimp confirmed it.** No answer (``NetworkError``, an endpoint
  that cannot be reached), a 5xx (``MailchimpServerError``), a 429 (``RateLimitedError``), a
  busy or broken coupling database (``StoreBusyError``, ``StoreError``), a per-person answer
  worth repeating (categories ``network``, ``server_error``, ``rate_limited``) and anything
  unexpected: the saves stay queued and the worker tries again after a back-off that doubles
  up to five minutes. It never stops on its own.
- **Refused settings stop the pushing, not the queueing.** On ``AuthenticationError``,
  ``AudienceNotFoundError`` or a ``ConfigurationError`` (a malformed audience id, a coupling
  database that belongs to another audience) every push would fail the same way, so the worker
  logs it once, keeps queueing saves, and waits for :meth:`PushWorker.resume` (with a new
  client when the plugin's settings changed). :attr:`PushWorker.stopped` says why meanwhile.
- **The latest save wins.** Saving a person twice while they are queued keeps only the later
  record; a save that arrives while an earlier one is being pushed stays queued.
- **Mailchimp's refusals are not retried here.** A person Mailchimp refused (a 400-class
  answer) or who has a data problem (no address, an invalid or shared address) is in the
  failure overview (R6); the worker logs the person id and drops the save.
- **A person deleted in AuditCase is archived** (R4.1) by the ``remove`` callable:
  ``auditcase_mailchimp.remove_persons`` unless the plugin gives its own.

The queue lives in memory: what is queued when the plugin stops is logged by
:meth:`PushWorker.close` and pushed by the next nightly sync.

Run it (``python examples/push_worker.py``) to watch it ride out an outage of the fake Mailchimp.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import auditcase_mailchimp
from auditcase_mailchimp import (
    RETRYABLE_CATEGORIES,
    AudienceNotFoundError,
    AuditCaseMailchimpError,
    AuthenticationError,
    ConfigurationError,
    CouplingStore,
    MailchimpClient,
    MailchimpError,
    Person,
    PersonKind,
    RetryPolicy,
    StoreBusyError,
    StoreError,
    SyncReport,
    push_persons,
)

__all__ = ["PushWorker", "Remove", "person_from_record"]

log = logging.getLogger("auditcase_plugin.mailchimp")

KINDS = {"klant": PersonKind.CLIENT_PERSON, "contactpersoon": PersonKind.CONTACT_PERSON}

#: The worker's back-off between rounds that failed: 5 s, 10 s, 20 s, … up to 5 minutes.
DEFAULT_BACKOFF = RetryPolicy(initial_wait=5.0, max_wait=300.0, jitter=1.0)


def person_from_record(record: Mapping[str, Any]) -> Person:
    """An AuditCase person record (its fields by their AuditCase names) as a Person.

    Args:
        record: The saved record: the flags as booleans, the groups as a list of names.

    Returns:
        The person; ``linked`` is always filled in (its default, ``False``, archives).
    """
    return Person(
        person_id=str(record["PersonId"]),
        kind=KINDS[record["PersonKind"]],
        initials=record["PersonInitialsRE"] or "",
        christian_name=record["PersonChristianNameRE"] or "",
        surname=record["PersonNameRE"] or "",
        contact_email=record["ContactEMailRE"] or "",
        company_email=record["CompanyEmailREBT"] or "",
        correspondence_groups=tuple(record["CorrespondenceGroupRE"] or ()),
        receives_mailings=bool(record["MailingenOntvangen"]),
        excluded_from_correspondence=bool(record["UitsluitenVoorCorrespondentie"]),
        linked=bool(record["KoppelenMetMailChimp"]),
    )


class Remove(Protocol):
    """Archive now the members of persons deleted or unlinked in AuditCase (R4.1)."""

    def __call__(
        self,
        person_ids: Iterable[str],
        /,
        *,
        store: CouplingStore,
        client: MailchimpClient,
        list_id: str,
    ) -> SyncReport:
        """Archive the members the coupling manages for these persons; return the report."""
        ...


@dataclass(eq=False)
class _Entry:
    """One queued change of one person: a save (the person) or a deletion (``None``)."""

    person: Person | None


class PushWorker:
    """Queue saves and deletions from AuditCase; push them from one worker thread.

    Args:
        store: The coupling database, the same file as the nightly sync's.
        client: The Mailchimp client.
        list_id: The audience id.
        remove: Archives the members of deleted persons; the library's ``remove_persons``
            unless given.
        backoff: The wait between rounds that failed: ``backoff.backoff(n)`` seconds after the
            ``n``-th failed round in a row (only ``initial_wait``, ``max_wait``, ``jitter`` and
            ``rng`` count).
        sleep: How the worker thread waits; by default a wait that :meth:`close` cuts short.
            Tests pass one that returns at once.
        batch_size: Persons per push at most.
    """

    def __init__(
        self,
        *,
        store: CouplingStore,
        client: MailchimpClient,
        list_id: str,
        remove: Remove | None = None,
        backoff: RetryPolicy = DEFAULT_BACKOFF,
        sleep: Callable[[float], object] | None = None,
        batch_size: int = 100,
    ) -> None:
        """Set the worker up; nothing is sent before :meth:`start` or :meth:`push_pending`."""
        self.store = store
        self.client = client
        self.list_id = list_id
        self.remove = auditcase_mailchimp.remove_persons if remove is None else remove
        self.backoff = backoff
        self.batch_size = batch_size
        self._closing = threading.Event()
        self._sleep = self._closing.wait if sleep is None else sleep
        self._changed = threading.Condition()
        self._queue: dict[str, _Entry] = {}  # by person id, in the order first queued
        self._stopped: str | None = None
        self._failed_rounds = 0
        self._busy = False
        self._thread: threading.Thread | None = None

    # --- what AuditCase calls ----------------------------------------------------------------

    def person_saved(self, person: Person) -> None:
        """Queue a saved person; returns at once (AuditCase's save hook).

        Args:
            person: The person as saved; a later save of the same person replaces it.
        """
        self._put(person.person_id, _Entry(person))

    def person_deleted(self, person_id: str) -> None:
        """Queue a person deleted in AuditCase: their member is archived (R4.1).

        Args:
            person_id: The AuditCase id of the deleted person.
        """
        self._put(person_id, _Entry(None))

    def _put(self, person_id: str, entry: _Entry) -> None:
        with self._changed:
            self._queue.pop(person_id, None)  # the latest change goes to the back
            self._queue[person_id] = entry
            self._changed.notify_all()

    # --- state -----------------------------------------------------------------------------

    @property
    def queued(self) -> list[str]:
        """The person ids waiting to be pushed, oldest first."""
        with self._changed:
            return list(self._queue)

    @property
    def stopped(self) -> str | None:
        """Why pushing stopped (refused credentials, audience or settings), else ``None``."""
        with self._changed:
            return self._stopped

    def resume(self, client: MailchimpClient | None = None) -> None:
        """Push again after :attr:`stopped`, e.g. once the plugin's settings were corrected.

        Args:
            client: A client with the corrected credentials; the current one when ``None``.
                The worker does not close the old one: it belongs to the plugin.
        """
        with self._changed:
            if client is not None:
                self.client = client
            self._stopped = None
            self._failed_rounds = 0
            self._changed.notify_all()

    # --- pushing ---------------------------------------------------------------------------

    def push_pending(self) -> float:
        """Push what is queued, once; the worker thread calls this in a loop.

        Returns:
            Seconds to wait before the next round: 0 when the round went well (or nothing is
            queued, or pushing is stopped), the back-off when something must be tried again.
        """
        with self._changed:
            if self._stopped is not None or not self._queue:
                return 0.0
            batch = list(self._queue.items())[: self.batch_size]
            self._busy = True
        try:
            again = self._attempt(batch)
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()
        if again:
            with self._changed:
                self._failed_rounds += 1
                return self.backoff.backoff(self._failed_rounds)
        with self._changed:
            self._failed_rounds = 0
        return 0.0

    def _attempt(self, batch: list[tuple[str, _Entry]]) -> bool:
        """Push one batch, surviving every error.

        Returns:
            ``True`` when something must be tried again after a back-off.
        """
        try:
            return self._push(batch)
        except (AuthenticationError, AudienceNotFoundError, ConfigurationError) as exc:
            self._stop(exc)  # every push would fail the same way until the settings change
            return False
        except StoreBusyError:
            log.info("the coupling database is busy (a sync runs); %d saves wait", len(batch))
        except (MailchimpError, StoreError) as exc:
            log.warning(
                "push failed (%s: %s); %d saves kept in the queue",
                type(exc).__name__,
                exc,
                len(self.queued),
            )
        except Exception:
            # The worker must survive anything, a bug included: it logs the traceback and waits.
            log.exception("push failed unexpectedly; %d saves kept in the queue", len(self.queued))
        return True

    def _push(self, batch: list[tuple[str, _Entry]]) -> bool:
        """Push one batch; settle each entry as soon as its answer is in.

        Returns:
            ``True`` when some person must be tried again (a failure worth repeating).
        """
        saves = [(i, e) for i, e in batch if e.person is not None]
        deletions = [(i, e) for i, e in batch if e.person is None]
        again = False
        if saves:
            persons = [e.person for _, e in saves if e.person is not None]
            report = push_persons(
                persons, store=self.store, client=self.client, list_id=self.list_id
            )
            again |= self._settle(saves, report)
        if deletions:
            ids = [i for i, _ in deletions]
            report = self.remove(ids, store=self.store, client=self.client, list_id=self.list_id)
            again |= self._settle(deletions, report)
        return again

    def _settle(self, entries: list[tuple[str, _Entry]], report: SyncReport) -> bool:
        """Drop the entries the report settles; keep those with a failure worth repeating."""
        retry = {f.person_id for f in report.failures if f.category in RETRYABLE_CATEGORIES}
        for failure in report.failures:
            if failure.category not in RETRYABLE_CATEGORIES:  # R6: in the failure overview
                log.warning(
                    "Mailchimp refused person %s (%s: %s); see the failure overview",
                    failure.person_id,
                    failure.category,
                    failure.title,
                )
        for problem in report.problems:
            log.warning("person %s not pushed: %s", problem.person_id, problem.category.value)
        with self._changed:
            for person_id, entry in entries:
                # A newer save of the same person queued meanwhile stays queued.
                if person_id not in retry and self._queue.get(person_id) is entry:
                    del self._queue[person_id]
            self._changed.notify_all()
        return bool(retry)

    def _stop(self, exc: AuditCaseMailchimpError) -> None:
        with self._changed:
            self._stopped = f"the plugin's Mailchimp settings are wrong: {exc}"
            queued = len(self._queue)
            self._changed.notify_all()
        log.error(
            "%s; pushing stopped, %d saves kept in the queue until the settings are corrected",
            self._stopped,
            queued,
        )

    # --- the thread --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread."""
        self._closing.clear()
        self._thread = threading.Thread(target=self._run, name="mailchimp-push", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(
                    lambda: self._closing.is_set() or (bool(self._queue) and not self._stopped)
                )
            if self._closing.is_set():
                return
            wait = self.push_pending()
            if wait:
                self._sleep(wait)

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Wait until the queue is empty, or pushing is stopped, and no push is under way.

        Args:
            timeout: Seconds at most; ``None`` waits as long as it takes.

        Returns:
            ``False`` when the timeout passed first.
        """
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._busy and (not self._queue or self._stopped is not None),
                timeout,
            )

    def close(self, timeout: float | None = None) -> list[str]:
        """Stop the worker thread (a push under way finishes first).

        Args:
            timeout: Seconds to wait for the thread at most.

        Returns:
            The person ids still queued; they are logged too. The next nightly sync pushes them.
        """
        self._closing.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        left = self.queued
        if left:
            log.warning("%d saves not pushed; the next sync pushes them", len(left))
        return left


def main() -> None:
    """Show the worker riding out an outage of the fake Mailchimp."""
    import sys  # noqa: PLC0415 - only the demonstration needs these
    import tempfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from auditcase_mailchimp import ApiKey, SQLiteStore  # noqa: PLC0415
    from auditcase_mailchimp.testing import FakeMailchimp, Fault  # noqa: PLC0415

    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(name)s: %(message)s")
    waits: list[float] = []
    quick = RetryPolicy(attempts=2, initial_wait=0.0, jitter=0.0)  # the client's own retries
    with (
        tempfile.TemporaryDirectory() as scratch,
        FakeMailchimp() as fake,
        SQLiteStore(Path(scratch) / "coupling.sqlite3") as store,
        MailchimpClient(ApiKey(fake.api_key), base_url=fake.url, retry=quick) as client,
    ):
        worker = PushWorker(
            store=store,
            client=client,
            list_id=fake.list_id,
            backoff=RetryPolicy(initial_wait=5.0, max_wait=300.0, jitter=0.0),
            sleep=waits.append,  # the demonstration does not wait for real
        )
        # Mailchimp is down for the first three rounds: 503 to the check of the audience.
        fake.inject(*[Fault.server_error(503, method="GET")] * 6)
        for n in range(1, 4):
            worker.person_saved(
                Person(
                    person_id=str(10000 + n),
                    kind=PersonKind.CLIENT_PERSON,
                    christian_name="Jan",
                    surname=f"Jansen {n}",
                    contact_email=f"jan.jansen.{n}@example.nl",
                    linked=True,
                )
            )
        worker.start()
        worker.wait_until_idle(timeout=60)
        worker.person_deleted("10002")
        worker.wait_until_idle(timeout=60)
        left = worker.close()
        print(f"backed off {len(waits)} times: {', '.join(f'{w:.0f} s' for w in waits)}")
        print(f"left in the queue: {left}")
        for member in fake.audience().members():
            print(f"{member.email_address}: {member.status}")


if __name__ == "__main__":
    main()
