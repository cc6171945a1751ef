"""Which file a shard's worker was scanning when it died, so a poison file cannot stop a run.

A file that kills the process scanning it (a crash in a decoder, memory) kills the
retry of its shard too. Each attempt of a shard therefore appends to a small log:
``begin``, then ``file <i>`` before it reads file ``i``, then ``write`` before its rows
go out; the log is removed once the rows are written. The next attempt reads the
log: every attempt recorded there died, at the last line it wrote. A file at which
the worker died twice (once can be anything: a node lost, the test's SIGKILL) gets
a failure row instead of a third scan; the attempt after a third death at the same
file does not even read it again.

Lines are written unbuffered, one ``write`` system call each, so they outlive a
killed process (not a crashed machine, which needs no file to be blamed). The log
lives where every attempt of the shard can read it: in the output folder for a
local (or shared) folder; for an object-store output, in the node's temporary
folder, which a retry on another node does not see (it then scans the shard as a
first attempt; Ray's retry limit still bounds the run).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field

from synthtrace.scale.inputs import is_url

# Deaths at one file before it is not scanned again, and before it is not even read.
POISON_DEATHS = 2
UNREADABLE_DEATHS = 3
# Deaths outside any file (starting the shard, writing its rows) before the shard's files
# are given failure rows without being scanned.
SHARD_DEATHS = 3
JOURNAL_DIR = "_journal"


def journal_dir(out: str) -> str:
    """Where the shard logs of an output folder live (see the module docstring)."""
    if is_url(out):
        tag = hashlib.sha256(out.encode()).hexdigest()[:16]
        return os.path.join(tempfile.gettempdir(), "synthtrace-journal", tag)
    return os.path.join(out, JOURNAL_DIR)


def retry_limit(shard_size: int) -> int:
    """Ray task retries per shard: more than the journal ever lets a shard die, so Ray only
    stops a run where the retries cannot read the log (a retry on another node)."""
    return UNREADABLE_DEATHS * shard_size + SHARD_DEATHS + 1


@dataclass(frozen=True)
class PastAttempts:
    """What the log says about the attempts before this one (all of which died)."""

    attempts: int = 0
    deaths: dict[int, list[int]] = field(default_factory=dict)  # file index -> attempts that died at it
    elsewhere: list[int] = field(default_factory=list)  # attempts that died before any file or while writing

    def died_at(self, i: int) -> list[int]:
        return self.deaths.get(i, [])


def parse(text: str) -> PastAttempts:
    attempts, deaths, elsewhere = 0, {}, []
    last: int | None = None

    def close() -> None:
        if attempts:
            (deaths.setdefault(last, []) if last is not None else elsewhere).append(attempts)

    for line in text.splitlines():
        word, _, arg = line.partition(" ")
        if word == "begin":
            close()
            attempts, last = attempts + 1, None
        elif word == "file" and arg.isdigit():
            last = int(arg)
        elif word == "write":
            last = None
    close()
    return PastAttempts(attempts, deaths, elsewhere)


class ShardJournal:
    """The log of one shard (``directory=None``: no log, every call is a no-op)."""

    def __init__(self, directory: str | None, partition: str, paths: list[str]) -> None:
        self.path = None
        self._fd: int | None = None
        if directory:
            h = hashlib.sha256("\n".join([partition, *paths]).encode()).hexdigest()[:32]
            self.path = os.path.join(directory, f"{h}.log")

    def past(self) -> PastAttempts:
        if self.path is None:
            return PastAttempts()
        try:
            with open(self.path, encoding="utf-8") as f:
                return parse(f.read())
        except FileNotFoundError:
            return PastAttempts()

    def _line(self, text: str) -> None:
        if self.path is None:
            return
        if self._fd is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(self._fd, f"{text}\n".encode())

    def begin(self) -> None:
        self._line("begin")

    def file(self, i: int) -> None:
        self._line(f"file {i}")

    def writing(self) -> None:
        self._line("write")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def finish(self) -> None:
        """The shard's rows are written: no attempt of it died after all."""
        self.close()
        if self.path is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def remove_empty(directory: str) -> None:
    """Remove the journal folder at the end of a run if no shard left a log in it."""
    try:
        os.rmdir(directory)
    except OSError:
        pass
