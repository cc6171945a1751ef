"""The shard journal: a retry learns which file killed the attempts before it.

A process death is simulated by an attempt that writes its journal lines and
never finishes (what a SIGKILL leaves); the Ray test kills real workers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytest.importorskip("pyarrow", reason="the scale tests need the 'ray' extra (pyarrow)")

import synthtrace  # noqa: E402
from synthtrace.scale import read_results  # noqa: E402
from synthtrace.scale.journal import PastAttempts, ShardJournal, journal_dir, parse, retry_limit  # noqa: E402
from synthtrace.scale.parquet_sink import ParquetSink  # noqa: E402
from synthtrace.scale.schema import partition, result_key, settings_hash  # noqa: E402
from synthtrace.scale.worker import ShardPlan, ShardScanner  # noqa: E402
from synthtrace.tasks.scan import ScanOptions, scan_paths  # noqa: E402

from ._data import make_images  # noqa: E402


def test_each_unfinished_attempt_died_at_its_last_line():
    log = "\n".join(["begin", "file 0", "file 1", "file 2",  # attempt 1 died reading or scanning file 2
                     "begin", "file 0", "file 1", "file 2",  # attempt 2: the same file
                     "begin", "file 0", "file 1", "file 2", "file 3", "write",  # attempt 3 died writing
                     "begin",  # attempt 4 died before its first file
                     "begin", "file 0", "fi"])  # attempt 5 died at file 0, mid-line
    assert parse(log) == PastAttempts(5, {2: [1, 2], 0: [5]}, [3, 4])
    assert parse("") == PastAttempts()
    assert retry_limit(256) > 3 * 256  # more than the journal ever lets one shard die


@pytest.fixture
def shard(tiny_bench, tmp_path):
    images = make_images(tiny_bench, tmp_path / "in", 6, bad=False)
    out = tmp_path / "out"
    opts = ScanOptions()
    plan = ShardPlan(out=str(out), partition=partition("none", settings_hash(opts)), detector_id="none",
                     settings=settings_hash(opts), options=opts, version=synthtrace.__version__,
                     journal=journal_dir(str(out)))
    return plan, [[p, []] for p in images]


def _die(plan, items, at: int | None, *, writing: bool = False) -> None:
    """An attempt that got as far as file ``at`` (or wrote its rows) and was killed."""
    j = ShardJournal(plan.journal, plan.partition, [p for p, _ in items])
    j.begin()
    for i in range(len(items) if at is None else at + 1):
        j.file(i)
    if writing:
        j.writing()


def test_a_file_that_killed_two_attempts_gets_a_failure_row_and_the_rest_is_scanned(shard):
    plan, items = shard
    poison = items[3][0]
    _die(plan, items, 3)
    _die(plan, items, 3)
    summary = ShardScanner(plan).scan_shard(items)
    assert (summary["scanned"], summary["failed"]) == (5, 1)
    [row] = read_results(plan.out, "failures").to_pylist()
    assert (row["path"], row["stage"]) == (poison, "worker")
    assert row["reason"].startswith("worker died while scanning this file (attempts 1, 2 of its shard")
    sha = hashlib.sha256(Path(poison).read_bytes()).hexdigest()
    assert (row["sha256"], row["key"]) == (sha, result_key(sha, plan.detector_id, plan.settings))
    expected = {r.path: r.verdict.label for r in scan_paths([p for p, _ in items])}
    scans = read_results(plan.out, "scans").to_pylist()
    assert {r["path"]: r["verdict"] for r in scans} == {p: v for p, v in expected.items() if p != poison}
    assert not list(Path(plan.journal).glob("*.log"))  # the finished attempt removed its log
    # The row carries the file's real key: the next run skips the file instead of dying on it again.
    assert ParquetSink(plan.out).done_index(plan.partition)[poison] == {row["key"]}


def test_one_death_is_not_blamed_on_the_file(shard):
    plan, items = shard
    _die(plan, items, 3)  # a node lost, a SIGKILL: the file is scanned again
    summary = ShardScanner(plan).scan_shard(items)
    assert (summary["scanned"], summary["failed"]) == (6, 0)


def test_a_file_that_kills_even_its_read_is_not_read_again(shard):
    plan, items = shard
    for _ in range(3):
        _die(plan, items, 1)
    summary = ShardScanner(plan).scan_shard(items)
    assert (summary["scanned"], summary["failed"]) == (5, 1)
    [row] = read_results(plan.out, "failures").to_pylist()
    assert (row["path"], row["stage"], row["sha256"]) == (items[1][0], "worker", None)
    assert "attempts 1, 2, 3 of its shard" in row["reason"] and "not read again" in row["reason"]


def test_a_shard_that_dies_outside_its_files_ends_with_failure_rows(shard):
    plan, items = shard
    _die(plan, items, None, writing=True)
    _die(plan, items, -1)  # before its first file
    _die(plan, items, None, writing=True)
    summary = ShardScanner(plan).scan_shard(items)
    assert (summary["scanned"], summary["failed"]) == (0, len(items))
    rows = read_results(plan.out, "failures").to_pylist()
    assert {r["path"] for r in rows} == {p for p, _ in items}
    assert all(r["stage"] == "worker" and "3 times while starting or writing" in r["reason"] for r in rows)
    assert json.loads(summary["files"])  # the failure rows were written, so the run goes on


def test_the_local_engine_keeps_no_journal(tiny_bench, tmp_path):
    images = make_images(tiny_bench, tmp_path / "in", 4, bad=False)
    synthtrace.scan(images, out=tmp_path / "out", shard_size=2)
    assert not (tmp_path / "out" / "_journal").exists()
