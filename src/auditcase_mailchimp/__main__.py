"""``python -m auditcase_mailchimp``: the command line (SPEC.md R9)."""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
