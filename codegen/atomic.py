"""Writing files so that a failed write never leaves a broken one.

Every file the tools write goes to a temporary file in the target's folder,
is flushed to disk, and is then renamed over the target in one step
(``os.replace``).  A write that fails (a full disk, a file-size limit, a
signal) leaves the previous file whole and removes the temporary one.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block succeeds.

    The temporary name keeps ``path``'s suffix, so writers that choose a format
    from it (matplotlib's ``savefig``) write the right one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        with open(temp, "rb+") as f:  # on disk before the rename makes it the file
            os.fsync(f.fileno())
        os.chmod(temp, _mode(path))
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path``'s contents with ``data``, atomically."""
    with atomic_path(path) as temp:
        with open(temp, "wb") as f:
            f.write(data)


def write_text(path: str | Path, text: str) -> None:
    """Replace ``path``'s contents with ``text`` in UTF-8, atomically."""
    write_bytes(path, text.encode("utf-8"))


def _mode(path: Path) -> int:
    """The target's current permissions, or those a new file gets under the umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
