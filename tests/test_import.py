"""A quick start: ``import auditcase_mailchimp`` loads no HTTP, store or converter code."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import auditcase_mailchimp
from auditcase_mailchimp import _HOME_OF

#: What the package must not load until a name that needs it is used.
HEAVY = ("requests", "urllib3", "http.client", "ssl", "sqlite3", "cattrs", "attrs", "csv")


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = textwrap.dedent(
        f"""
        import sys
        {code}
        print("\\n".join(sorted(sys.modules)))
        """
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_importing_the_package_loads_nothing_heavy() -> None:
    """Issue 12.5: the import loads neither requests nor the store, attrs or cattrs."""
    loaded = _loaded_after("import auditcase_mailchimp")
    assert not loaded & set(HEAVY)
    ours = {name for name in loaded if name.startswith("auditcase_mailchimp")}
    assert ours == {"auditcase_mailchimp", "auditcase_mailchimp._version"}


def test_a_public_name_is_loaded_where_it_lives_and_requests_only_with_a_transport() -> None:
    """Issue 12.5: the models come without requests; requests comes with a transport only."""
    models = _loaded_after("from auditcase_mailchimp import Person, plan_sync")
    assert "requests" not in models
    assert "sqlite3" not in models
    client = _loaded_after("from auditcase_mailchimp import MailchimpClient, RequestsTransport")
    assert "requests" not in client  # loaded when a transport is built
    built = _loaded_after(
        "from auditcase_mailchimp import RequestsTransport; RequestsTransport().close()"
    )
    assert "requests" in built


def test_every_public_name_resolves_and_is_listed() -> None:
    """Every name of __all__ is importable from the package, from the module the table names."""
    assert set(_HOME_OF) | {"__version__"} == set(auditcase_mailchimp.__all__)
    for name in auditcase_mailchimp.__all__:
        value = getattr(auditcase_mailchimp, name)
        assert value is not None
    assert set(auditcase_mailchimp.__all__) <= set(dir(auditcase_mailchimp))


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not have raises AttributeError, as for any module."""
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        _ = auditcase_mailchimp.NoSuchName  # type: ignore[attr-defined]
