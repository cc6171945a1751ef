"""Resumable scans into Parquet (and the case store) without Ray: the same
ShardScanner the Ray actors run, in this process."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow", reason="the scale tests need the 'ray' extra (pyarrow)")

import synthtrace  # noqa: E402
from synthtrace.errors import ConfigError, InputError  # noqa: E402
from synthtrace.scale import SCHEMA_VERSION, read_results, scan_to_parquet  # noqa: E402
from synthtrace.scale.inputs import expand_inputs  # noqa: E402
from synthtrace.scale.parquet_sink import ParquetSink  # noqa: E402
from synthtrace.scale.run import cut_shards  # noqa: E402
from synthtrace.scale.schema import partition, result_from_row, result_key, settings_hash  # noqa: E402
from synthtrace.scale.worker import ShardPlan, ShardScanner, detector_id  # noqa: E402
from synthtrace.tasks.scan import ScanOptions, scan_paths  # noqa: E402

from ._data import BAD_FILES, make_images  # noqa: E402


def _canon(d: dict) -> str:
    return json.dumps(d, sort_keys=True, default=str)


def _files(out: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


@pytest.fixture
def images(tiny_bench, tmp_path):
    return make_images(tiny_bench, tmp_path / "in", 24)


def test_inputs_from_a_folder_a_manifest_a_list_and_a_url(tiny_bench, tmp_path):
    files = make_images(tiny_bench, tmp_path / "in", 6, bad=False)
    assert expand_inputs(tmp_path / "in") == files
    (tmp_path / "m.csv").write_text("path,label\n" + "".join(f"in/{Path(f).name},real\n" for f in files[:3]))
    from_manifest = expand_inputs(tmp_path / "m.csv")
    assert from_manifest == sorted(str(tmp_path / "in" / Path(f).name) for f in files[:3])
    # duplicates across a manifest, a folder and a list are scanned once
    assert expand_inputs([tmp_path / "m.csv", tmp_path / "in", files[0]]) == files
    urls = expand_inputs("file://" + str(tmp_path / "in"))
    assert urls == ["file://" + f for f in files]
    (tmp_path / "nopath.csv").write_text("file,label\na.png,real\n")
    with pytest.raises(InputError, match="'path' column"):
        expand_inputs(tmp_path / "nopath.csv")
    with pytest.raises(InputError, match="no such file"):
        expand_inputs(tmp_path / "missing")


def test_shards_shrink_at_the_end_of_a_run_on_several_workers():
    # 20 inputs, shards of 4, 2 workers: each shard takes a quarter of what is left, at most 4.
    assert cut_shards(20, 4, 2) == [(0, 4), (4, 8), (8, 11), (11, 14), (14, 16), (16, 17), (17, 18), (18, 19), (19, 20)]
    assert cut_shards(10, 4, 1) == [(0, 4), (4, 8), (8, 10)]  # one worker waits for nobody
    assert cut_shards(0, 4, 2) == []
    for n, size, workers in [(20000, 256, 2), (1000, 256, 8), (7, 3, 4)]:
        bounds = cut_shards(n, size, workers)
        assert [a for a, _ in bounds[1:]] == [b for _, b in bounds[:-1]] and bounds[0][0] == 0 and bounds[-1][1] == n
        sizes = [b - a for a, b in bounds]
        assert max(sizes) <= size and sizes == sorted(sizes, reverse=True)
        assert min(sizes[:-1]) >= max(1, size // 8)
        if len(set(sizes)) > 1:  # when a worker takes the last full shard, the others have that much left each
            last_full = max(i for i, k in enumerate(sizes) if k == sizes[0])
            assert sum(sizes[last_full + 1:]) >= (workers - 1) * sizes[last_full]


def test_key_depends_on_content_detector_and_settings():
    s = settings_hash(ScanOptions())
    assert s == settings_hash(ScanOptions()) != settings_hash(ScanOptions(watermarks=False))
    k = result_key("ab" * 32, "none", s)
    assert k == result_key("ab" * 32, "none", s)
    assert len({k, result_key("cd" * 32, "none", s), result_key("ab" * 32, "det@1", s),
                result_key("ab" * 32, "none", settings_hash(ScanOptions(operating_point="fpr_0.05")))}) == 4


def test_local_run_equals_scan_paths_and_lists_bad_files(images, tiny_bundle, tmp_path):
    out = tmp_path / "out"
    s = synthtrace.scan(images, tiny_bundle, out=out, shard_size=5)
    expected = {r.path: r for r in scan_paths(images, tiny_bundle)}
    scans = read_results(out, "scans").to_pylist()
    failures = read_results(out, "failures").to_pylist()
    assert s.inputs == len(images) == len(scans) + len(failures)
    assert (s.scanned, s.failed, s.skipped, s.missing) == (len(scans), len(failures), 0, 0)
    for row in scans:
        assert _canon(result_from_row(row)) == _canon(expected[row["path"]].to_dict())
        assert row["sha256"] == expected[row["path"]].record.sha256
        assert row["verdict"] == expected[row["path"]].verdict.label
        assert row["probability"] == pytest.approx(expected[row["path"]].detection.probability)
        assert row["detector_id"] == detector_id(tiny_bundle) and row["schema_version"] == SCHEMA_VERSION
        assert row["scan_s"] > 0
    bad = {Path(r["path"]).name: r for r in failures}
    assert set(bad) == set(BAD_FILES) | {"truncated.jpg"}
    for name, row in bad.items():
        assert row["stage"] == "decode" and row["reason"] == expected[row["path"]].error
    assert bad["empty.png"]["sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256 of b""


def test_rerun_writes_nothing_and_scans_only_what_is_new(images, tmp_path):
    out = tmp_path / "out"
    first = synthtrace.scan(images, out=out, shard_size=7)
    before = _files(out)
    again = synthtrace.scan(images, out=out, shard_size=7)
    assert (again.scanned, again.failed, again.skipped) == (0, 0, len(images))
    assert _files(out) == before
    # a new file and a changed file are scanned; nothing else is
    new = Path(images[0]).with_name("zz-new.png")
    new.write_bytes(Path(images[1]).read_bytes())
    changed = images[3]  # a benchmark image (the bad files sort last)
    Path(changed).write_bytes(Path(images[2]).read_bytes())
    third = synthtrace.scan(Path(images[0]).parent, out=out, shard_size=7)
    assert (third.scanned + third.failed, third.skipped) == (2, len(images) - 1)
    rows = read_results(out, "scans").to_pylist()
    assert sum(r["path"] == changed for r in rows) == 2  # old and new content, two keys
    assert len({(r["path"], r["key"]) for r in rows}) == len(rows)
    # other settings: a partition of their own, everything scanned again
    other = synthtrace.scan(images, out=out, watermarks=False)
    assert other.skipped == 0 and other.partition != first.partition


def test_parquet_readable_by_pyarrow_and_duckdb(images, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    import pyarrow.dataset as ds

    out = tmp_path / "out"
    s = synthtrace.scan(images, out=out, shard_size=10)
    t = ds.dataset(out / "scans", format="parquet", partitioning="hive").to_table()
    assert t.num_rows == s.scanned and set(t.column("settings").to_pylist()) == {s.settings_hash[:12]}
    con = duckdb.connect()
    glob = str(out / "scans" / "**" / "*.parquet")
    n, n_paths, version = con.execute(
        f"select count(*), count(distinct path), max(schema_version) from read_parquet('{glob}', hive_partitioning=true)"
    ).fetchone()
    assert (n, n_paths, version) == (s.scanned, s.scanned, SCHEMA_VERSION)
    verdicts = con.execute(f"select verdict, count(*) from read_parquet('{glob}') group by verdict").fetchall()
    assert sum(c for _, c in verdicts) == s.scanned
    reasons = con.execute(f"select stage, reason from read_parquet('{out}/failures/**/*.parquet')").fetchall()
    assert len(reasons) == s.failed and all(stage == "decode" and reason for stage, reason in reasons)
    sources = con.execute(f"select json_extract_string(evidence_json, '$[0].source') from read_parquet('{glob}') limit 1").fetchone()
    assert sources[0]


def test_a_retried_shard_rewrites_the_same_file(images, tmp_path):
    """What a Ray retry does: the same shard scanned again after its file was written."""
    out = tmp_path / "out"
    opts = ScanOptions()
    plan = ShardPlan(out=str(out), partition=partition("none", settings_hash(opts)), detector_id="none",
                     settings=settings_hash(opts), options=opts, version=synthtrace.__version__)
    shard = [[p, []] for p in images[:6]]
    first = ShardScanner(plan).scan_shard(shard)
    second = ShardScanner(plan).scan_shard(shard)
    assert json.loads(first["files"]) == json.loads(second["files"])
    assert read_results(out, "scans").num_rows == first["scanned"] == 6


def test_a_killed_writer_leaves_no_row_and_its_partial_file_is_removed(images, tmp_path):
    out = tmp_path / "out"
    s = synthtrace.scan(images[:4], out=out)
    sink = ParquetSink(out)
    partial = Path(sink.directory("scans", s.partition)) / "_tmp-deadbeef.partial"
    partial.write_bytes(b"PAR1 half a file")
    assert read_results(out, "scans").num_rows == 4
    synthtrace.scan(images[:4], out=out)
    assert not partial.exists()


def test_a_file_readable_only_later_is_scanned_and_supersedes_its_failure(images, tmp_path):
    out = tmp_path / "out"
    good = images[0]
    moved = good + ".away"
    os.rename(good, moved)
    (tmp_path / "m.csv").write_text(f"path\n{good}\n")
    s1 = synthtrace.scan(tmp_path / "m.csv", out=out)
    f = read_results(out, "failures").to_pylist()
    assert s1.failed == 1 and f[0]["stage"] == "read" and "not found" in f[0]["reason"]
    assert synthtrace.scan(tmp_path / "m.csv", out=out).skipped == 1  # still missing: nothing new
    os.rename(moved, good)
    s3 = synthtrace.scan(tmp_path / "m.csv", out=out)
    assert s3.scanned == 1
    assert read_results(out, "failures").num_rows == 0 and read_results(out, "scans").num_rows == 1


def test_fsspec_urls_give_the_local_results(images, tmp_path):
    pytest.importorskip("fsspec")
    local = synthtrace.scan(images[:5], out=tmp_path / "a")
    remote = synthtrace.scan("file://" + str(Path(images[0]).parent), out=tmp_path / "b")
    a = {r["sha256"]: r for r in read_results(tmp_path / "a", "scans").to_pylist()}
    b = {r["sha256"]: r for r in read_results(tmp_path / "b", "scans").to_pylist()}
    assert local.scanned == 5 and remote.inputs == len(images) and set(a) <= set(b)
    for sha, row in a.items():
        assert b[sha]["path"] == "file://" + row["path"]
        assert (b[sha]["verdict"], b[sha]["score"]) == (row["verdict"], row["score"])
        strip = lambda r: [{k: v for k, v in e.items() if k != "details"} for e in json.loads(r["evidence_json"])]  # noqa: E731
        assert strip(b[sha]) == strip(row)


def test_case_store_sink_is_batched_and_idempotent(images, tmp_path, db_url):
    from synthtrace.store import Store

    s = synthtrace.scan(images, out=tmp_path / "out", db=db_url, shard_size=8)
    store = Store(db_url)
    try:
        counts = store.counts()
        assert counts["scans"] == s.inputs and counts["verdicts"] == s.scanned
        assert store.integrity_problems() == []
        scans, total = store.list_scans(limit=1000)
        by_name = {r["name"]: r for r in scans}
        assert total == s.inputs and set(by_name) == set(images)
        expected = {r.path: r for r in scan_paths(images)}
        for name, row in by_name.items():
            assert row["ok"] == expected[name].ok
            if row["ok"]:
                assert row["verdict"]["label"] == expected[name].verdict.label
                stored = store.get_scan(row["id"])["result"]
                assert [(e["source"], e["name"], e["direction"]) for e in stored["evidence"]] == [
                    (e.source, e.name, e.direction) for e in expected[name].evidence]
            else:
                assert row["error"] == expected[name].error
        # a second run into another folder knows nothing of the first: the store alone must refuse duplicates
        synthtrace.scan(images, out=tmp_path / "out2", db=db_url, shard_size=5)
        assert store.counts() == counts
    finally:
        store.close()


def test_api_and_errors(images, tmp_path, monkeypatch):
    assert [r.path for r in synthtrace.scan(images[:3])] == images[:3]
    assert synthtrace.tasks.scan.scan_file is not None  # the submodule stays reachable under the function's name
    with pytest.raises(ConfigError, match="valid ones"):
        synthtrace.scan(images, out=tmp_path / "o", watermark=False)
    with pytest.raises(ConfigError, match="pass out="):
        synthtrace.scan(images, engine="ray")
    with pytest.raises(ConfigError, match="expected one of local, ray"):
        synthtrace.scan(images, engine="spark", out=tmp_path / "o")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"pip install 'synthtrace\[ray\]'"):
        scan_to_parquet(images, tmp_path / "o", engine="ray")


def test_cli_out_and_missing_ray(images, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from synthtrace.cli.app import app

    runner = CliRunner()
    res = runner.invoke(app, ["scan", "--detector", "none", "--out", str(tmp_path / "o"), "--shard-size", "9", *images])
    assert res.exit_code == 1, res.output  # bad files among the inputs
    assert read_results(tmp_path / "o", "scans").num_rows + read_results(tmp_path / "o", "failures").num_rows == len(images)
    res = runner.invoke(app, ["scan", "--detector", "none", "--engine", "ray", *images])
    assert res.exit_code == 2 and "--out" in res.output
    monkeypatch.setitem(sys.modules, "ray", None)
    res = runner.invoke(app, ["scan", "--detector", "none", "--engine", "ray", "--out", str(tmp_path / "r"), *images])
    assert res.exit_code == 2 and "pip install 'synthtrace[ray]'" in " ".join(res.output.split())
    assert "images/s" not in res.output  # refused before any progress is drawn


def test_store_sink_keeps_only_the_new_scans_of_a_partly_stored_shard(images, tmp_path, db_url):
    from synthtrace.scale.schema import EncodedResult
    from synthtrace.scale.store_sink import StoreSink

    results = [r for r in scan_paths(images[:8]) if r.ok]
    items = [(f"key-{i}", r, EncodedResult.of(r)) for i, r in enumerate(results)]
    sink = StoreSink(db_url)
    try:
        assert sink.write(items[:3], "none") == 3
        assert sink.write(items, "none") == len(items) - 3  # a retry that got further this time
        assert sink.write(items, "none") == 0
        counts = sink.store.counts()
        assert counts["scans"] == counts["verdicts"] == len(items)
        assert counts["evidence"] == sum(len(r.evidence) for r in results)
        assert sink.store.integrity_problems() == []
    finally:
        sink.close()


def test_an_input_left_without_a_row_gets_a_worker_failure_row(images, tmp_path, monkeypatch):
    """The driver's last guard: whatever happened in a worker, every input ends with one row."""
    real = ShardScanner.scan_shard

    def lossy(self, items):
        return real(self, [it for it in items if it[0] != images[0]])

    monkeypatch.setattr(ShardScanner, "scan_shard", lossy)
    s = synthtrace.scan(images[:5], out=tmp_path / "o")
    assert s.missing == 1 and s.scanned + s.failed == 5
    rows = read_results(tmp_path / "o", "failures").to_pylist()
    assert [(r["path"], r["stage"]) for r in rows] == [(images[0], "worker")]


def test_import_synthtrace_stays_light():
    import subprocess

    # `import synthtrace` loads nothing heavy; the API (st.scan) loads the detector stack, never Ray.
    code = ("import sys, synthtrace; heavy = ('torch', 'ray', 'pyarrow', 'synthtrace.scale', 'synthtrace.api'); "
            "print(sorted(m for m in heavy if m in sys.modules)); synthtrace.scan; "
            "print(sorted(m for m in ('ray',) if m in sys.modules), callable(synthtrace.scan))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "[] True"]


def test_a_worker_without_a_detector_never_loads_torch(images, tmp_path):
    import subprocess

    # An actor imports the worker and scans; without a detector torch and scikit-learn
    # (and scipy.stats) stay unloaded, so each actor starts seconds sooner.
    heavy = ("torch", "sklearn", "scipy.stats")
    code = (f"import sys; from synthtrace.scale.worker import ShardPlan, ShardScanner; "
            f"s = ShardScanner(ShardPlan(out={str(tmp_path / 'out')!r}, partition='p', detector_id='none', settings='s')); "
            f"r = s.scan_shard([[{images[0]!r}, []]]); "
            f"print(r['scanned'], sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1 []"


def test_result_json_is_strict_json():
    import numpy as np

    from synthtrace.records import Evidence, ScanResult
    from synthtrace.scale.schema import EncodedResult

    r = ScanResult(path="x.png", evidence=(Evidence("spectrum", "peaks", strength=float("nan"),
                                                    details={"profile": [1.0, float("inf")], "n": np.int64(3)}),))
    enc = EncodedResult.of(r)
    ev = json.loads(enc.evidence_json, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert ev[0]["strength"] is None and ev[0]["details"] == {"profile": [1.0, None], "n": 3}
    whole = json.loads(enc.result_json())
    assert whole["evidence"] == ev and whole["path"] == "x.png"
