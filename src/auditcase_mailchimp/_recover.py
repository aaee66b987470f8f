"""Settling an unfinished run's open intents before a run plans (R7.4).

Part of the shell: it reads back exactly the members the open intents are about (one ``GET``
per address, or the audience in pages when that is fewer requests,
:func:`~auditcase_mailchimp._settle.read_in_pages`), asks
:func:`~auditcase_mailchimp._settle.settle` what to record, and records it together with the
clearing of those intents, in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from ._client import AudienceMember, MailchimpClient
from ._executor import record_write
from ._models import CurrentMember
from ._settle import Settled, intent_keys, read_in_pages, settle
from ._store import CouplingStore

__all__ = ["as_current", "settle_open"]

_log = logging.getLogger(__name__)


def settle_open(
    store: CouplingStore, client: MailchimpClient, list_id: str, *, dry_run: bool = False
) -> list[Settled]:
    """Settle the intents an unfinished run left open; call it under the run lock, first.

    Args:
        store: The coupling database.
        client: The Mailchimp client.
        list_id: The audience id.
        dry_run: Only read and return the writes; record nothing (R7.3).

    Returns:
        What was (or would be) recorded; empty when the last run finished (nothing is read).

    Raises:
        MailchimpError: A read failed for good; nothing was written, the intents stay open.
        StoreError: The coupling database cannot be read or written.
    """
    intents = store.open_intents()
    if not intents:
        return []
    keys = intent_keys(intents)
    records = {m.key: m for m in store.load_current_for((), keys)}
    if read_in_pages(len(keys), len(store.owners())):
        wanted = set(keys)
        found = {m.key: m for m in client.read_members(list_id) if m.key in wanted}
        read: dict[str, CurrentMember | None] = {k: _current(found.get(k)) for k in keys}
    else:
        read = _read_each(client, list_id, keys)
    writes = settle(intents, read, records)
    if dry_run:
        return writes
    with store.answering([i.id for i in intents]):
        for write in writes:
            record_write(store, write)
    _log.info(
        "settled the open requests of an unfinished run",
        extra={"intents": len(intents), "records": len(writes)},
    )
    return writes


def _read_each(
    client: MailchimpClient, list_id: str, keys: Sequence[str]
) -> dict[str, CurrentMember | None]:
    """One ``GET`` per address, up to the client's concurrency."""
    with ThreadPoolExecutor(max_workers=client.concurrency) as pool:
        found = list(pool.map(lambda key: client.get_member(list_id, key), keys))
    return {key: _current(member) for key, member in zip(keys, found, strict=True)}


def _current(member: AudienceMember | None) -> CurrentMember | None:
    return None if member is None else as_current(member)


def as_current(member: AudienceMember) -> CurrentMember:
    """A member read from Mailchimp as the planner's current state (no coupling record)."""
    return CurrentMember(
        email_address=member.email_address,
        first_name=member.first_name,
        last_name=member.last_name,
        tags=member.tags,
        status=member.status,
    )
