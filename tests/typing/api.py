"""Type-checked, never run: the public API used the way an integrator would (STYLE.md).

mypy --strict checks this file with the rest of the tests; a change to the public API that
breaks an integrator's code breaks the typing session.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from auditcase_mailchimp import (
    RETRYABLE_CATEGORIES,
    ApiKey,
    AudienceNotFoundError,
    AuthenticationError,
    ConfigurationError,
    CouplingStore,
    CurrentMember,
    DesiredState,
    ErrorCategory,
    ExportFile,
    MailchimpClient,
    MailchimpError,
    MailchimpServerError,
    NetworkError,
    OAuthToken,
    Person,
    PersonKind,
    PersonSource,
    Plan,
    RateLimitedError,
    Request,
    Response,
    SourceError,
    SQLiteStore,
    StoreBusyError,
    StoreError,
    SyncReport,
    Transport,
    UnreadableSourceError,
    Upsert,
    desired_state,
    plan_sync,
    push_persons,
    sync,
    to_member,
)
from auditcase_mailchimp.testing import FakeMailchimp


class QuerySource:
    """A source over rows an AuditCase database query returned."""

    def __init__(self, rows: Iterable[tuple[str, str, str, bool]]) -> None:
        self.rows = list(rows)

    def persons(self) -> Iterator[Person]:
        for person_id, surname, email, linked in self.rows:
            yield Person(
                person_id=person_id,
                kind=PersonKind.CONTACT_PERSON,
                surname=surname,
                contact_email=email,
                linked=linked,
            )


class CountingTransport:
    """A transport that wraps another and counts what it sends."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.sent = 0

    def send(self, request: Request) -> Response:
        self.sent += 1
        return self.inner.send(request)

    def close(self) -> None:
        self.inner.close()


def plan_only(persons: Iterable[Person], current: list[CurrentMember]) -> list[str]:
    desired: DesiredState = desired_state(persons)
    plan: Plan = plan_sync(current, desired)
    return [a.email_address for a in plan.actions if isinstance(a, Upsert) and a.create]


def run_everything(inner: Transport) -> SyncReport:
    source: PersonSource = QuerySource([("1", "Jansen", "jan@example.nl", True)])
    export: PersonSource = ExportFile("export.csv")
    store: CouplingStore = SQLiteStore("coupling.sqlite3")
    member = to_member(next(iter(source.persons())))
    assert member.status == "subscribed"
    with (
        FakeMailchimp() as fake,
        MailchimpClient(
            ApiKey(fake.api_key), base_url=fake.url, transport=CountingTransport(inner)
        ) as client,
    ):
        sync(export, store=store, client=client, list_id=fake.list_id, dry_run=True)
        return push_persons(source.persons(), store=store, client=client, list_id=fake.list_id)


def vendor_client(token: str, endpoint: str) -> MailchimpClient:
    return MailchimpClient(OAuthToken(token, api_endpoint=endpoint), concurrency=4)


def push_or_wait(
    persons: list[Person], store: CouplingStore, client: MailchimpClient, list_id: str
) -> tuple[float | None, str]:
    """A save hook's push, handling each error class of docs/reference/errors.md.

    Returns the seconds to wait before trying again (``None``: done, or not before the settings
    change) and what to log.
    """
    wait: float | None = None
    note = ""
    try:
        report = push_persons(persons, store=store, client=client, list_id=list_id)
    except (AuthenticationError, AudienceNotFoundError) as exc:
        status: int = exc.status
        note = f"{status} {exc.title}: {exc.detail}"
    except ConfigurationError as exc:
        note = str(exc)
    except StoreBusyError as exc:
        holder: int | None = exc.pid
        wait, note = 60.0, f"{exc.path} busy ({holder})"
    except (MailchimpServerError, RateLimitedError) as exc:
        wait, note = (30.0 if exc.retryable else None), exc.title
    except NetworkError as exc:
        category: ErrorCategory = exc.category
        wait, note = (30.0 if category.retryable else None), str(exc)
    except StoreError as exc:
        wait, note = 60.0, str(exc)
    except MailchimpError as exc:
        request_id: str = exc.request_id
        wait, note = 300.0, request_id
    else:
        retry = [f for f in report.failures if f.category in RETRYABLE_CATEGORIES]
        wait = 30.0 if retry else None
    return wait, note


def read_or_explain(path: str) -> list[Person]:
    """Reading an export: an unreadable file names its line and missing columns."""
    try:
        result = ExportFile(path).read()
    except UnreadableSourceError as exc:
        line: int | None = exc.line
        columns: tuple[str, ...] = exc.columns
        raise SystemExit(f"{exc} (line {line}, missing {', '.join(columns)})") from exc
    except SourceError:
        raise
    return list(result.persons)
