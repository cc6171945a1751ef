"""The Ray engine on a local two-CPU cluster started here: the single-process
results, a worker SIGKILLed mid-run, a file that kills every worker scanning it,
reruns that write nothing."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray tests need the 'ray' extra: pip install 'synthtrace[ray]'")
pytest.importorskip("ray.data")
duckdb = pytest.importorskip("duckdb")

import synthtrace  # noqa: E402
from synthtrace.scale import read_results, scan_to_parquet  # noqa: E402
from synthtrace.scale.schema import result_from_row  # noqa: E402
from synthtrace.tasks.scan import scan_paths  # noqa: E402

from ._data import BAD_FILES, make_images  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    def poison_files_kill_their_worker():
        """Every Ray worker process runs this at start: scanning a file named poison* SIGKILLs
        the process, as a crash in a decoder would, on every attempt. (Defined here, not at
        module level, so that it is pickled by value: the workers cannot import the tests.)"""
        import os
        import signal
        from pathlib import Path

        from synthtrace.scale import worker

        real = worker.scan_file

        def scan_file(path, *args, **kwargs):
            if Path(path).name.startswith("poison"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(path, *args, **kwargs)

        worker.scan_file = scan_file

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network in tests
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False,
             runtime_env={"worker_process_setup_hook": poison_files_kill_their_worker})
    yield
    ray.shutdown()


def _files(out: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def _rows_per_input(out: Path) -> dict[str, int]:
    con = duckdb.connect()
    q = " union all ".join(f"select path from read_parquet('{out}/{t}/**/*.parquet')" for t in ("scans", "failures"))
    return dict(con.execute(f"select path, count(*) from ({q}) group by path").fetchall())


def test_ray_equals_the_single_process_scan_and_a_rerun_writes_nothing(cluster, tiny_bench, tiny_bundle, tmp_path):
    images = make_images(tiny_bench, tmp_path / "in", 30)
    out = tmp_path / "out"
    s = synthtrace.scan(tmp_path / "in", tiny_bundle, engine="ray", out=out, workers=2, shard_size=6)
    expected = {r.path: r for r in scan_paths(images, tiny_bundle)}
    assert (s.inputs, s.engine, s.workers, s.missing) == (len(images), "ray", 2, 0)
    scans = read_results(out, "scans").to_pylist()
    assert len({r["worker"] for r in scans}) == 2  # both actors took shards
    for row in scans:
        want = json.dumps(expected[row["path"]].to_dict(), sort_keys=True, default=str)
        assert json.dumps(result_from_row(row), sort_keys=True, default=str) == want
    failures = {Path(r["path"]).name: r for r in read_results(out, "failures").to_pylist()}
    assert set(failures) == set(BAD_FILES) | {"truncated.jpg"}
    assert all(r["reason"] == expected[r["path"]].error for r in failures.values())
    assert _rows_per_input(out) == {p: 1 for p in images}
    before = _files(out)
    again = synthtrace.scan(tmp_path / "in", tiny_bundle, engine="ray", out=out, workers=2, shard_size=6)
    assert (again.scanned, again.failed, again.skipped) == (0, 0, len(images))
    assert _files(out) == before


def test_a_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(cluster, tiny_bench, tmp_path):
    images = make_images(tiny_bench, tmp_path / "in", 60)
    out = tmp_path / "out"
    killed: list[int] = []
    done_at_kill: list[int] = []

    def on_shard(summary):
        if not killed:  # SIGKILL the actor that reported first; it already holds its next shards
            pid = int(summary["worker"].rsplit(":", 1)[1])
            done_at_kill.append(len(list(out.rglob("part-*.parquet"))))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    s = scan_to_parquet(images, out, engine="ray", workers=2, shard_size=2, on_shard=on_shard)
    n_shards = -(-len(images) // 2)
    assert killed and done_at_kill[0] < n_shards  # the kill came while shards were still to do
    assert s.missing == 0 and s.scanned + s.failed == len(images)
    assert _rows_per_input(out) == {p: 1 for p in images}
    assert not list(out.rglob("_tmp-*"))
    ok = {r["path"]: r for r in read_results(out, "scans").to_pylist()}
    expected = {r.path: r for r in scan_paths(images)}
    assert {p for p, r in expected.items() if r.ok} == set(ok)
    assert all(ok[p]["verdict"] == expected[p].verdict.label for p in ok)
    before = _files(out)
    again = scan_to_parquet(images, out, engine="ray", workers=2, shard_size=2)
    assert (again.scanned, again.failed, again.skipped) == (0, 0, len(images)) and _files(out) == before


def test_a_file_that_kills_its_worker_every_time_is_a_failure_row_and_the_run_goes_on(cluster, tiny_bench, tmp_path):
    images = make_images(tiny_bench, tmp_path / "in", 16, bad=False)
    poison = tmp_path / "in" / "poison.jpg"  # a good JPEG: only its name makes the worker die
    poison.write_bytes(Path(images[0]).read_bytes())
    out = tmp_path / "out"
    s = scan_to_parquet(tmp_path / "in", out, engine="ray", workers=2, shard_size=4)
    assert (s.inputs, s.scanned, s.failed, s.missing) == (len(images) + 1, len(images), 1, 0)
    [row] = read_results(out, "failures").to_pylist()
    assert (row["path"], row["stage"]) == (str(poison), "worker")
    assert row["reason"].startswith("worker died while scanning this file (attempts 1, 2 of its shard")
    assert row["sha256"] is not None
    expected = {r.path: r.verdict.label for r in scan_paths(images)}
    assert {r["path"]: r["verdict"] for r in read_results(out, "scans").to_pylist()} == expected
    assert _rows_per_input(out) == {p: 1 for p in [*images, str(poison)]}
    assert not (out / "_journal").exists()
    before = _files(out)
    again = scan_to_parquet(tmp_path / "in", out, engine="ray", workers=2, shard_size=4)
    assert (again.scanned, again.failed, again.skipped) == (0, 0, len(images) + 1) and _files(out) == before
