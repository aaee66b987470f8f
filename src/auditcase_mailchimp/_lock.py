"""The run lock: an advisory lock on a side file, released by the OS when the holder dies.

Two syncs never work on one coupling database at once. The lock is ``flock`` (``msvcrt`` on
Windows) on ``<database>.lock`` (mode ``0600``), which holds the holder's pid so a refused run
can name it. The operating system releases the lock when the holder ends, even by ``SIGKILL``,
so a crashed run never blocks the next one (R7.2).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Final

from ._errors import StoreBusyError, StoreError

__all__ = ["RunLock"]


if sys.platform == "win32":  # pragma: no cover - the lock is exercised on POSIX only
    import msvcrt

    _WINDOWS_LOCK_OFFSET: Final = 1 << 20  # beyond the pid, so a waiting run can read it

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 32).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))


class RunLock:
    """The run lock of one database file; ``None`` as the file for a database in memory.

    A database in memory has nothing to share with other processes: its lock only keeps a
    second :meth:`hold` of the same store out.

    Args:
        path: The database file, or ``None`` for a database in memory.
        name: How the database is named in messages.
    """

    def __init__(self, path: str | None, name: str) -> None:
        """Prepare the lock; nothing is opened yet."""
        self._path = path
        self._name = name
        self._memory_lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock inside the ``with`` block.

        Yields:
            Nothing.

        Raises:
            StoreBusyError: Another process (or another ``hold()`` in this one) holds it.
            StoreError: The lock file cannot be opened.
        """
        if self._path is None:
            if not self._memory_lock.acquire(blocking=False):
                raise StoreBusyError(self._name, os.getpid())
            try:
                yield
            finally:
                self._memory_lock.release()
            return
        lock_path = f"{self._path}.lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot open the lock file {lock_path}: {exc.strerror or exc}"
            ) from exc
        try:
            if not _try_lock(fd):
                raise StoreBusyError(self._name, _read_pid(fd))
            try:
                _write_pid(fd)
                yield
            finally:
                os.ftruncate(fd, 0)
                _unlock(fd)
        finally:
            os.close(fd)
