"""Load test of the local service: provenance + signals scans of 512x512 JPEGs.

Starts `synthtrace serve` on a free loopback port with a fresh data directory
(SQLite store, no detector), or uses --url (loopback only), then sends
POST /v1/scans with one JPEG per request from concurrent client threads for a
bounded number of requests, and prints requests/s and p50/p95/p99 latency.
Target (issue 6): >= 20 requests/s.

    python benchmarks/service_load.py --requests 400 --clients 8 --processes 2

Every request is a full scan stored in the case store (one transaction each);
the images differ (random seeds), so nothing is cached.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from PIL import Image


def make_jpegs(n: int, size: int = 512, quality: int = 90) -> list[bytes]:
    """Smooth random fields (camera-like spectra, not noise), each different."""
    out = []
    for seed in range(n):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(size, size, 3)).cumsum(0).cumsum(1)
        x = (255 * (x - x.min()) / (np.ptp(x) + 1e-9)).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(x).save(buf, format="JPEG", quality=quality)
        out.append(buf.getvalue())
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, processes: int) -> tuple[subprocess.Popen, str, str]:
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-c", "from synthtrace.cli.app import main; main()", "serve", "--port", str(port),
           "--data-dir", str(data_dir), "--processes", str(processes)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise SystemExit("server did not start within 180 s")
    return proc, url, (data_dir / "token").read_text().strip()


def run_load(url: str, token: str, images: list[bytes], n_requests: int, clients: int,
             watermarks: bool = True) -> tuple[list[float], int, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(n_requests))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                data = images[i % len(images)]
                t0 = time.perf_counter()
                r = c.post("/v1/scans", files={"files": (f"img{i}.jpg", data, "image/jpeg")},
                           data={"detector": "none", "watermarks": str(watermarks).lower()})
                dt = time.perf_counter() - t0
                ok = r.status_code == 201 and r.json()["scans"][0]["ok"]
                with lock:
                    if ok:
                        latencies.append(dt)
                    else:
                        errors += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - t0


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300, help="total requests (bounded run)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="server processes (serve --processes)")
    ap.add_argument("--warmup", type=int, default=10, help="requests before timing starts")
    ap.add_argument("--images", type=int, default=64, help="distinct 512x512 JPEGs")
    ap.add_argument("--no-watermarks", action="store_true", help="skip the invisible-watermark decoder")
    ap.add_argument("--url", help="an already running server (loopback only); needs --token")
    ap.add_argument("--token", help="API token for --url")
    args = ap.parse_args()

    images = make_jpegs(args.images)
    proc = None
    tmp = None
    if args.url:
        host = urlparse(args.url).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"--url must be a loopback address (got {host}); this benchmark never leaves the machine")
        url, token = args.url.rstrip("/"), args.token or ""
    else:
        tmp = Path(tempfile.mkdtemp(prefix="synthtrace-load-"))
        proc, url, token = start_server(tmp / "data", args.processes)
    try:
        run_load(url, token, images, args.warmup, min(args.clients, args.warmup or 1), not args.no_watermarks)
        lat, errors, wall = run_load(url, token, images, args.requests, args.clients, not args.no_watermarks)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    rps = len(lat) / wall if wall else float("nan")
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"scans: provenance{' (watermarks on)' if not args.no_watermarks else ' (no watermarks)'} + signals, "
          f"no detector, 512x512 JPEG q90, SQLite store; server processes: {args.processes if not args.url else '?'}")
    print(f"requests: {len(lat)} ok, {errors} failed, {args.clients} concurrent clients, {wall:.1f} s")
    print(f"throughput: {rps:.1f} requests/s (target >= 20)")
    print(f"latency: p50 {pct(lat, 50) * 1000:.0f} ms, p95 {pct(lat, 95) * 1000:.0f} ms, "
          f"p99 {pct(lat, 99) * 1000:.0f} ms, mean {statistics.fmean(lat) * 1000 if lat else float('nan'):.0f} ms")


if __name__ == "__main__":
    main()
