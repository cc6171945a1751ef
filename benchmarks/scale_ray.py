"""Scale-out scan: stage costs, single process vs Ray with 1 and 2 workers, the store sink.

Run (built-in benchmark images; ``synthtrace bench build`` first):

    synthtrace bench build --out /tmp/b20k --per-source 602           # 19 390 images
    synthtrace bench build --out /tmp/b20k-extra --per-source 20 --seed 1
    python benchmarks/scale_ray.py --bench /tmp/b20k --bench /tmp/b20k-extra --n 20000 \\
        --db postgresql://postgres@127.0.0.1:55432/postgres [--json out.json]

What it measures, in one process, one after the other on the same files:

1. per-image CPU seconds (``time.process_time``) of each stage of ``scan_file`` on
   ``--stage-sample`` images: read, decode, provenance, signals, verdict, plus the
   scale-out's own work (content hash, row serialisation, Parquet encoding);
2. throughput (images/s, wall clock) of
   a. ``scan_paths`` in this process (the single-process scan, results in memory),
   b. ``engine="local"``: the same ShardScanner as a Ray actor, in this process, into Parquet,
   c. ``engine="ray"`` with 1 worker, d. with 2 workers (``ray.init(num_cpus=2)``),
   each into a fresh output folder; Ray's images/s exclude ``ray.init`` (and a small
   warm-up dataset that starts Ray Data's helper actors, as on a long-lived cluster)
   but include starting the scanning actors; "once all workers were up" counts from
   the first finished shard to the last. Every file is read once first, so all runs
   read from the page cache. Beside each run: the CPU seconds of every process by kind
   (this driver, the scanning actors, Ray's other workers and daemons, anything else on
   the machine) between the run's start and its last shard (two snapshots, no sampler),
   and the scanning workers' wall and CPU milliseconds per image;
   e. the control: one plain ``scan_paths`` process on all files, then two on half the
   files each, started together (what the machine gives two processes without Ray; a
   fresh process, unlike this driver, holds nothing else in memory);
3. the case-store sink (``--db``): the results of 2a written into a fresh database in
   shards of ``--shard-size`` (one transaction each), result rows/s, with the CPU
   milliseconds per row of encoding (done once per result by the worker, shared with
   Parquet), of the writing client and of the PostgreSQL backend (local server); then
   the same rows by two writers at once (threads, one connection each) into another
   fresh database, as two Ray workers write.

Targets (issue 22): Ray 2 workers >= 1.8x 1 worker (against the control's 2-process /
1-process ratio, which bounds it); Ray overhead (1 - Ray 1 worker /
single process) <= 15 %; store sink >= 2000 rows/s. The 1-minute load average is
printed beside every run: on a shared machine other jobs take cores and lower every
number; compare runs of the same invocation only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def list_images(benches: list[str], n: int) -> list[str]:
    from synthtrace.io.images import list_image_files

    files: list[str] = []
    for b in benches:
        files += [str(p) for p in list_image_files(Path(b) / "images").images]
    files = sorted(files)
    if len(files) < n:
        sys.exit(f"only {len(files)} images under {benches}; build more with `synthtrace bench build` (see the docstring)")
    return files[:n]


def stage_costs(files: list[str]) -> dict[str, float]:
    """Mean CPU milliseconds per image of each stage, as scan_file runs them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthtrace.io.images import load_image_bytes, read_file_bytes
    from synthtrace.provenance import read_provenance
    from synthtrace.scale.schema import scan_row, scans_schema, utcnow
    from synthtrace.signals import analyze_pixels
    from synthtrace.verdict import decide

    t = dict.fromkeys(("read", "hash", "decode", "provenance", "signals", "verdict", "row", "parquet"), 0.0)
    rows = []
    from synthtrace.records import ScanResult

    for f in files:
        c0 = time.process_time()
        data = read_file_bytes(f)
        c1 = time.process_time()
        sha = hashlib.sha256(data).hexdigest()
        c2 = time.process_time()
        loaded = load_image_bytes(data, f)
        c3 = time.process_time()
        ev = read_provenance(f, data=data, rgb=loaded.rgb)
        c4 = time.process_time()
        ev += analyze_pixels(loaded.rgb, path=f, data=data)
        c5 = time.process_time()
        v = decide(ev)
        c6 = time.process_time()
        r = ScanResult(path=f, record=loaded.record, evidence=tuple(ev), verdict=v)
        rows.append(scan_row(r, key=sha, sha256=sha, detector_id="none", settings="x", version="bench",
                             read_s=0.0, scan_s=0.0, worker="bench", at=utcnow()))
        c7 = time.process_time()
        for k, a, b in (("read", c0, c1), ("hash", c1, c2), ("decode", c2, c3), ("provenance", c3, c4),
                        ("signals", c4, c5), ("verdict", c5, c6), ("row", c6, c7)):
            t[k] += b - a
    pq.write_table(pa.Table.from_pylist(rows[:2], schema=scans_schema()), pa.BufferOutputStream(), compression="zstd")  # warm-up
    c0 = time.process_time()
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=scans_schema()), buf, compression="zstd")
    t["parquet"] = time.process_time() - c0
    out = {k: 1000 * v / len(files) for k, v in t.items()}
    out["total"] = sum(out.values())
    out["parquet_bytes_per_row"] = buf.getvalue().size / len(files)
    return out


def cpu_snapshot() -> dict:
    """CPU seconds (user + system) of every process now, by pid with a category, and the
    machine's busy CPU seconds. Two snapshots around a run and nothing in between: a
    sampler would itself take CPU from the workers it measures."""
    import psutil

    procs = {}
    me = os.getpid()
    for p in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        try:
            t = p.info["cpu_times"]
            cmd = " ".join(p.info["cmdline"] or [])
            name = p.info["name"] or ""
        except (psutil.Error, TypeError):
            continue
        if t is None:
            continue
        if p.pid == me:
            cat = "driver"
        elif "MapWorker" in cmd or "MapWorker" in name:
            cat = "scanning actors"
        elif name.startswith("ray::") or cmd.startswith("ray::"):
            cat = "other Ray workers (Ray Data's helper actors, idle workers)"
        elif "/site-packages/ray/" in cmd:
            cat = "Ray daemons (raylet, GCS, agents, log monitor)"
        elif "scale_ray_control" in cmd:
            cat = "plain scanning processes"
        else:
            cat = "other processes (not this benchmark)"
        procs[p.pid] = (cat, t.user + t.system)
    m = psutil.cpu_times()
    busy = sum(getattr(m, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
    return {"procs": procs, "busy": busy, "at": time.perf_counter()}


def cpu_account(a: dict, b: dict) -> dict[str, float]:
    """CPU seconds by category between two snapshots (a process born in between counts from 0)."""
    out: dict[str, float] = {}
    for pid, (cat, c) in b["procs"].items():
        prev = a["procs"].get(pid)
        d = c - (prev[1] if prev else 0.0)
        if d > 0.005:
            out[cat] = out.get(cat, 0.0) + d
    out["machine busy"] = b["busy"] - a["busy"]
    out["machine capacity"] = (os.cpu_count() or 1) * (b["at"] - a["at"])
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


CONTROL = """
import sys, time
import torch
torch.set_num_threads(1)  # as in a Ray actor
from synthtrace.tasks.scan import scan_paths
files = open(sys.argv[1]).read().split("\\n")
print("ready", flush=True)
sys.stdin.readline()
t = time.perf_counter()
scan_paths(files)
print(time.perf_counter() - t, flush=True)
"""


def plain_processes(files: list[str], k: int, tmp: Path) -> dict:
    """k plain Python processes, each scanning 1/k of the files with scan_paths, started
    together once all have imported synthtrace: what the machine gives without Ray."""
    import subprocess

    procs = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for i in range(k):
        lst = tmp / f"scale_ray_control_{i}.txt"
        lst.write_text("\n".join(files[i::k]))
        procs.append(subprocess.Popen([sys.executable, "-c", CONTROL, str(lst), "scale_ray_control"], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    a = cpu_snapshot()
    t0 = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    own = [float(p.stdout.readline()) for p in procs]
    wall = time.perf_counter() - t0
    b = cpu_snapshot()
    for p in procs:
        p.wait()
    return {"processed": len(files), "images_per_s": len(files) / wall, "wall_s": wall, "process_s": own,
            "cpu": cpu_account(a, b)}


def steady(done: list[tuple[float, int]]) -> float | None:
    """Images/s from the first finished shard to the last: the rate once every worker
    is up (start-up, a fixed cost per run, left out)."""
    if len(done) < 3:
        return None
    return sum(n for _, n in done[1:]) / (done[-1][0] - done[0][0])


def timed_run(label: str, fn) -> dict:
    l0 = os.getloadavg()[0]
    c0 = time.process_time()
    a = cpu_snapshot()
    t0 = time.perf_counter()
    res = fn()
    wall = time.perf_counter() - t0
    rec = {"run": label, "wall_s": wall, "driver_cpu_s": time.process_time() - c0,
           "load_before": l0, "load_after": os.getloadavg()[0]}
    if "cpu" not in res:  # a Ray run takes its second snapshot as its last shard arrives, while its actors live
        res["cpu"] = cpu_account(a, res.pop("snapshot", None) or cpu_snapshot())
    rec.update(res)
    rec.setdefault("images_per_s", rec["processed"] / wall)
    if rec.get("steady_images_per_s"):
        print(f"{'':>28}  {rec['steady_images_per_s']:7.1f} images/s once all workers were up", flush=True)
    print(f"{label:>28}: {rec['images_per_s']:7.1f} images/s  (wall {wall:6.1f} s; driver CPU {rec['driver_cpu_s']:.1f} s; "
          f"{load()})", flush=True)
    print(f"{'':>30}CPU s by process: {rec['cpu']}", flush=True)
    if rec.get("worker_ms_per_image"):
        w = rec["worker_ms_per_image"]
        print(f"{'':>30}in the scanning workers, per image: {w['wall']:.2f} ms wall, {w['cpu']:.2f} ms CPU; first shard "
              f"done at {rec['first_shard_s']:.1f} s; one worker idle for the last {rec['tail_s']:.1f} s; shards per worker "
              f"{rec['shards_per_worker']}", flush=True)
    return rec


RATIO_TEXT = [
    ("ray_2_over_1", "Ray 2 workers / 1 worker", " (target >= 1.8)"),
    ("ray_2_over_1_steady", "  once all workers were up", ""),
    ("ray_overhead", "Ray overhead, 1 - (Ray 1 worker / single process)", " (target <= 0.15)"),
    ("ray_overhead_steady", "  once the worker was up", ""),
    ("ray2_vs_2x_single", "Ray 2 workers / (2 x single process)", ""),
    ("plain_2_over_1", "Without Ray, 2 plain processes / 1 plain process (what the machine allows)", ""),
    ("ray2_over_plain2", "Ray 2 workers / 2 plain processes", ""),
]


def ratios(by: dict[str, dict]) -> dict[str, float]:
    """The issue's ratios between the runs of one round."""
    out: dict[str, float] = {}
    single_r, plain1, control, r1, r2 = (by.get(k) for k in ("single", "plain1", "control", "ray1", "ray2"))
    if r1 and r2:
        out["ray_2_over_1"] = r2["images_per_s"] / r1["images_per_s"]
        if r1.get("steady_images_per_s") and r2.get("steady_images_per_s"):
            out["ray_2_over_1_steady"] = r2["steady_images_per_s"] / r1["steady_images_per_s"]
    if single_r and r1:
        out["ray_overhead"] = 1 - r1["images_per_s"] / single_r["images_per_s"]
        if r1.get("steady_images_per_s"):
            out["ray_overhead_steady"] = 1 - r1["steady_images_per_s"] / single_r["images_per_s"]
    if single_r and r2:
        out["ray2_vs_2x_single"] = r2["images_per_s"] / (2 * single_r["images_per_s"])
    if control and plain1:
        out["plain_2_over_1"] = control["images_per_s"] / plain1["images_per_s"]
    if control and r2:
        out["ray2_over_plain2"] = r2["images_per_s"] / control["images_per_s"]
    return out


def median_ratios(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each ratio's median over the rounds that have it."""
    keys = {k for r in rounds for k in r}
    return {k: statistics.median(r[k] for r in rounds if k in r) for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", action="append", required=True, help="a `synthtrace bench build` folder (repeatable)")
    ap.add_argument("--n", type=int, default=20000, help="images (the first N paths, sorted)")
    ap.add_argument("--stage-sample", type=int, default=500)
    ap.add_argument("--shard-size", type=int, default=256)
    ap.add_argument("--db", default=None, help="PostgreSQL admin URL: a fresh database is created and dropped")
    ap.add_argument("--detector", default=None, help="detector bundle folder for every run (default: none, pixel forensics only)")
    ap.add_argument("--skip", default="", help="comma-separated runs to leave out: single,control,local,ray1,ray2,db")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of the runs, interleaved, every other one in reverse order; the ratios are the median of the rounds' ratios")
    ap.add_argument("--json", default=None, help="write every number here")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    import synthtrace
    from synthtrace.scale import read_results, scan_to_parquet
    from synthtrace.tasks.scan import scan_paths

    files = list_images(args.bench, args.n)
    report: dict = {"n": len(files), "shard_size": args.shard_size, "cpus": os.cpu_count(), "detector": args.detector,
                    "start": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "uptime_start": load()}
    print(f"{len(files)} built-in benchmark images from {args.bench}; {os.cpu_count()} CPUs; {load()}", flush=True)

    t0 = time.perf_counter()
    cached = sum(len(Path(f).read_bytes()) for f in files)  # every run reads from the page cache, the first too
    report["read_all_s"], report["bytes"] = time.perf_counter() - t0, cached
    sample = files[:: max(1, len(files) // args.stage_sample)][: args.stage_sample]
    report["stage_ms_cpu"] = stage_costs(sample)
    print("CPU ms/image:", {k: round(v, 2) for k, v in report["stage_ms_cpu"].items()}, flush=True)

    runs = []
    tmp = Path(tempfile.mkdtemp(prefix="scale_ray_"))
    results = []
    rounds = []
    try:
        def single():
            results.clear()
            results.extend(scan_paths(files, args.detector))
            return {"processed": len(results)}

        def parquet_run(label, **kw):
            out = tmp / label
            peak = [0]
            done: list[tuple[float, int]] = []

            shards_of: dict[str, int] = {}
            snap: list[dict] = []
            total = [0]

            def sample(summary) -> None:  # completion times, and peak resident memory of a Ray scanning worker
                import psutil

                now = time.perf_counter()
                done.append((now, int(summary["n"])))
                shards_of[summary["worker"]] = shards_of.get(summary["worker"], 0) + 1
                total[0] += int(summary["n"])
                if total[0] == len(files):
                    snap.append(cpu_snapshot())

                for q in psutil.Process().children(recursive=True):
                    try:
                        if "MapWorker" in q.name() or "ShardScanner" in " ".join(q.cmdline()):
                            peak[0] = max(peak[0], q.memory_info().rss)
                    except psutil.Error:
                        pass

            def go():
                t0 = time.perf_counter()
                s = scan_to_parquet(files, out, args.detector, shard_size=args.shard_size, on_shard=sample, **kw)
                n_rows = read_results(out, "scans").num_rows + read_results(out, "failures").num_rows
                assert n_rows == len(files), (n_rows, len(files))
                st = s.stage_seconds
                # When each worker read its last file (the rows' own timestamps: the driver gets the
                # summaries in batches, later than the shards end).
                t = read_results(out, "scans").select(["worker", "scanned_at"]).to_pylist()
                last: dict[str, float] = {}
                for r in t:
                    last[r["worker"]] = max(last.get(r["worker"], 0.0), r["scanned_at"].timestamp())
                ends = sorted(last.values())
                return {"snapshot": snap[0] if snap else None,
                        "worker_ms_per_image": {"wall": 1000 * (st["read"] + st["scan"] + st["write"]) / s.processed,
                                                "cpu": 1000 * st["cpu"] / s.processed},
                        "first_shard_s": done[0][0] - t0, "tail_s": ends[-1] - ends[0] if len(ends) > 1 else 0.0,
                        "shards_per_worker": sorted(shards_of.values()),
                        "images_per_s": s.images_per_second, "processed": s.processed, "setup_s": s.setup_seconds,
                        "run_s": s.seconds, "workers": s.workers, "stage_s": s.stage_seconds, "rows": n_rows,
                        "parquet_bytes": sum(f.stat().st_size for f in out.rglob("*.parquet")),
                        "worker_peak_rss_mib": peak[0] / 2**20 if peak[0] else None,
                        "steady_images_per_s": steady(done)}
            rec = timed_run(label, go)
            shutil.rmtree(out, ignore_errors=True)
            return rec

        ray_runs = not {"ray1", "ray2"} <= skip
        if ray_runs:
            import ray

            ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
            # Ray Data starts its own helper actors on a cluster's first dataset; a long-lived
            # cluster has them already, so a small warm-up run (not measured) starts them.
            t0 = time.perf_counter()
            scan_to_parquet(files[:8], tmp / "warm-up", engine="ray", workers=1, shard_size=4)
            report["ray_warm_up_s"] = time.perf_counter() - t0
        try:
            # Each ratio's two runs are neighbours: single process and Ray 1 worker, Ray 1 and 2
            # workers, 1 and 2 plain processes.
            plan = [(key, fn) for key, skip_as, fn in (
                ("plain1", "control", lambda: timed_run("1 plain process (scan_paths)", lambda: plain_processes(files, 1, tmp))),
                ("control", "control", lambda: timed_run("2 plain processes (scan_paths)", lambda: plain_processes(files, 2, tmp))),
                ("local", "local", lambda: parquet_run("local engine -> Parquet", engine="local")),
                ("single", "single", lambda: timed_run("single process (scan_paths)", single)),
                ("ray1", "ray1", lambda: parquet_run("ray 1 worker -> Parquet", engine="ray", workers=1)),
                ("ray2", "ray2", lambda: parquet_run("ray 2 workers -> Parquet", engine="ray", workers=2)),
            ) if skip_as not in skip]
            # Rounds interleave the runs, so a drift in this VM's speed hits every kind of run
            # alike; each round's ratios compare runs minutes apart, not a whole benchmark apart.
            # Every other round runs them in reverse: a machine that slows (or speeds up) under
            # sustained load then favours no run for its place in the order.
            for rnd in range(args.repeat):
                if args.repeat > 1:
                    print(f"-- round {rnd + 1} of {args.repeat}", flush=True)
                this: dict[str, dict] = {key: fn() for key, fn in (plan if rnd % 2 == 0 else plan[::-1])}
                for rec in this.values():
                    rec["round"] = rnd + 1
                runs.extend(this.values())
                rounds.append(ratios(this))
        finally:
            if ray_runs:
                ray.shutdown()
        if args.db and "db" not in skip:
            if not results:
                results.extend(scan_paths(files, args.detector))
            report["store_sink"] = store_sink(args.db, results, args.shard_size)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["runs"] = runs
    report["rounds"] = rounds
    for i, r in enumerate(rounds, 1):
        print(f"round {i}: " + "; ".join(f"{k} {v:.3f}" for k, v in r.items()))
    report.update(median_ratios(rounds))
    for key, text, target in RATIO_TEXT:
        if key in report:
            vals = [r[key] for r in rounds if key in r]
            spread = f" (rounds: {', '.join(f'{v:.3f}' for v in vals)})" if len(vals) > 1 else ""
            print(f"{text}: {report[key]:.3f}{target}{spread}")
    report["end"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    report["uptime_end"] = load()
    report["synthtrace_version"] = synthtrace.__version__
    print(load())
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")


def store_sink(admin: str, results: list, shard_size: int) -> dict:
    """Write every result into a fresh database through the scale-out's store sink."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from synthtrace.scale.schema import EncodedResult
    from synthtrace.scale.store_sink import StoreSink
    from synthtrace.store import normalize_url

    admin_url = normalize_url(admin)
    name = f"synthtrace_bench_{uuid.uuid4().hex[:10]}"
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        sink = StoreSink(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        e0 = time.process_time()
        # The workers encode each result once, for Parquet and the store alike; timed apart.
        items = [(hashlib.sha256(r.path.encode()).hexdigest(), r, EncodedResult.of(r)) for r in results]
        encode_cpu = time.process_time() - e0
        evidence = sum(len(r.evidence) for r in results)
        with sink.engine.connect() as c:
            db_bytes0 = int(c.execute(text("select pg_database_size(current_database())")).scalar())
        l0 = os.getloadavg()[0]
        backend = backend_pid(sink)
        s0, c0 = server_cpu(backend), time.process_time()
        t0 = time.perf_counter()
        per_shard = []
        for i in range(0, len(items), shard_size):
            w0 = time.perf_counter()
            sink.write(items[i:i + shard_size], "none")
            per_shard.append(len(items[i:i + shard_size]) / (time.perf_counter() - w0))
        wall = time.perf_counter() - t0
        client_cpu, s1 = time.process_time() - c0, server_cpu(backend)
        if backend_pid(sink) != backend:  # the pool changed connection: the server's share is unknown
            s1 = None
        srv_cpu = s1 - s0 if s0 is not None and s1 is not None else None
        t1 = time.perf_counter()
        rewritten = sum(sink.write(items[i:i + shard_size], "none") for i in range(0, len(items), shard_size))
        again = time.perf_counter() - t1
        counts = sink.store.counts()
        with sink.engine.connect() as c:
            db_bytes = int(c.execute(text("select pg_database_size(current_database())")).scalar()) - db_bytes0
        sink.close()
        # Two writers at once, as two Ray workers write their own shards: a second fresh database.
        with eng.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}_2"'))
        url2 = make_url(admin_url).set(database=f"{name}_2").render_as_string(hide_password=False)
        sinks = [StoreSink(url2) for _ in range(2)]
        shards = [items[i:i + shard_size] for i in range(0, len(items), shard_size)]
        l2 = os.getloadavg()[0]
        t2 = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda k: [sinks[k].write(sh, "none") for sh in shards[k::2]], range(2)))
        wall2 = time.perf_counter() - t2
        counts2 = sinks[0].store.counts()
        for sk in sinks:
            sk.close()
    finally:
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}_2" WITH (FORCE)'))
        eng.dispose()
    per_shard.sort()
    rec = {"rows": len(items), "evidence_rows": evidence, "wall_s": wall, "rows_per_s": len(items) / wall,
           "evidence_rows_per_s": evidence / wall, "slowest_shard_rows_per_s": per_shard[0],
           "median_shard_rows_per_s": per_shard[len(per_shard) // 2], "rerun_new_rows": rewritten,
           "rerun_s": again, "counts": counts, "database_bytes_added": db_bytes, "load_before": l0, "load_after": os.getloadavg()[0],
           "encode_cpu_ms_per_row": 1000 * encode_cpu / len(items), "client_cpu_ms_per_row": 1000 * client_cpu / len(items),
           "server_cpu_ms_per_row": 1000 * srv_cpu / len(items) if srv_cpu is not None else None,
           "two_writers": {"wall_s": wall2, "rows_per_s": len(items) / wall2, "counts": counts2, "load_before": l2,
                           "load_after": os.getloadavg()[0]}}
    print(f"store sink CPU ms/row: encode {rec['encode_cpu_ms_per_row']:.3f}, client {rec['client_cpu_ms_per_row']:.3f}, "
          f"server {rec['server_cpu_ms_per_row'] or float('nan'):.3f}")
    print(f"store sink (PostgreSQL): {rec['rows_per_s']:.0f} result rows/s ({rec['evidence_rows_per_s']:.0f} evidence rows/s), "
          f"slowest shard {rec['slowest_shard_rows_per_s']:.0f} rows/s; rerun wrote {rewritten} rows; {load()}", flush=True)
    print(f"store sink, 2 writers: {rec['two_writers']['rows_per_s']:.0f} result rows/s; {load()}", flush=True)
    return rec


def backend_pid(sink) -> int:
    from sqlalchemy import text

    with sink.engine.connect() as c:
        return int(c.execute(text("select pg_backend_pid()")).scalar())


def server_cpu(pid: int) -> float | None:
    """CPU seconds used so far by the PostgreSQL backend serving the sink (a local server only)."""
    try:
        import psutil

        return sum(psutil.Process(pid).cpu_times()[:2])
    except Exception:  # noqa: BLE001 - a remote server: not measured
        return None


if __name__ == "__main__":
    main()
