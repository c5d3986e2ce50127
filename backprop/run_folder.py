"""A run folder: held by one ``backprop train`` at a time, replaced as a whole or not at all.

* **One writer.** The folder is locked (``flock`` on the folder itself) for as
  long as a run writes into it; a second run into the same folder is refused
  in one line before it reads any data.
* **Whole or nothing.** A run that replaces an earlier one (``--force``) writes
  every file into a hidden staging folder inside the run folder; only when it
  has something to keep (its model, or a resumable state) are its files renamed
  into place and the earlier run's files that it does not replace removed.  A
  run that fails before that (a full disk, a crash) leaves the earlier run
  whole.  A run's final files (model, history, plot, sample) are staged the
  same way, so a finished run never sits beside a half-written report.
* **Leftovers.** The temporary files of an atomic write and staging folders
  that a killed run left behind are recognised by their names and removed by
  the next run that holds the folder.  Nothing else in the folder is touched.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

#: Every file a run writes into its folder.
RUN_OUTPUTS = ("model.safetensors", "adapters.safetensors", "checkpoint.safetensors", "history.json", "loss.png",
               "sample.txt")
#: Files whose presence makes a folder hold a run.
RUN_FILES = ("model.safetensors", "adapters.safetensors", "checkpoint.safetensors", "history.json")
STAGING_PREFIX = ".backprop-run-"
#: The temporary names of ``codegen.atomic.atomic_path``: ``.<name>.<random>.tmp<suffix>``.
_TEMPORARY = re.compile(r"^\.(?P<name>" + "|".join(map(re.escape, RUN_OUTPUTS)) + r")\.[^/]+\.tmp[.\w]*$")


class RunFolderBusy(ValueError):
    """Another run holds the folder."""


class RunFolder:
    """The folder ``path`` held for one run: ``files`` is where the run writes.

    Use as a context manager; ``stage()`` sends every write to a staging folder
    that ``commit()`` renames into place; leaving the block without ``commit()``
    removes the staging folder and keeps the folder as it was.
    """

    def __init__(self, path: Path, flag: str = "--out"):
        self.path, self.flag = Path(path), flag
        self.files = self.path
        self._fd: int | None = None
        self._staging: Path | None = None

    def __enter__(self) -> "RunFolder":
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"{self.flag} {self.path}: is a file, not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self.clean_leftovers()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc) -> bool:
        try:
            if self._staging is not None:
                shutil.rmtree(self._staging, ignore_errors=True)
                self._staging = None
                self.files = self.path
        finally:
            self._unlock()
        return False

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: one writer is the user's to ensure
            return
        self._fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._unlock()
            raise RunFolderBusy(f"{self.flag} {self.path}: another `backprop train` is writing into this folder; "
                                "wait for it to finish or choose another folder") from None

    def _unlock(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    @property
    def staged(self) -> bool:
        """Do this run's writes go to a staging folder?"""
        return self._staging is not None

    def existing_run(self) -> list[str]:
        """The run files already in the folder."""
        return [name for name in RUN_FILES if (self.path / name).exists()]

    def clean_leftovers(self) -> list[Path]:
        """Remove the temporary files and staging folders a killed run left; returns what was removed."""
        removed = []
        for entry in sorted(self.path.iterdir()):
            if entry.name.startswith(STAGING_PREFIX) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
                removed.append(entry)
            elif _TEMPORARY.match(entry.name) and entry.is_file() and not entry.is_symlink():
                entry.unlink()
                removed.append(entry)
        return removed

    def stage(self) -> None:
        """Send every later write to a staging folder inside the run folder (same file system)."""
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.path))
            self.files = self._staging

    def commit(self) -> None:
        """Make what was staged the folder's run: rename each staged file into place, then remove the
        run files it did not replace.

        Renames need no space, so once the staged files are written this cannot fail for a full disk.
        """
        if self._staging is None:
            return  # the run wrote into the folder itself
        kept = set()
        for staged in sorted(self._staging.iterdir()):
            os.replace(staged, self.path / staged.name)
            kept.add(staged.name)
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging, self.files = None, self.path
        for name in RUN_OUTPUTS:
            if name not in kept:
                (self.path / name).unlink(missing_ok=True)
