"""Session fixtures shared across the suite: a tiny built-in benchmark and a detector
trained on it (built once; every test that needs real data uses these), and the case
store's database URLs (SQLite, and PostgreSQL where CI provides one)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthtrace.backbones import create_backbone
from synthtrace.backbones.tiny import save_tiny_model
from synthtrace.bench.build import BenchConfig, build_benchmark


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory):
    """A 10-per-source benchmark (about 320 images)."""
    out = tmp_path_factory.mktemp("bench")
    build_benchmark(out, BenchConfig(per_source=10, seed=3), workers=1)
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tiny_bench, tmp_path_factory):
    """A cnn-small bundle trained for 2 epochs on ``tiny_bench`` (quality irrelevant)."""
    from synthtrace.training.train import train_detector

    out = tmp_path_factory.mktemp("bundle")
    train_detector(tiny_bench / "manifest.csv", out, epochs=2, progress=False)
    return out


@pytest.fixture(scope="session")
def hf_probe_bundle(tiny_bench, tmp_path_factory):
    """A linear-probe bundle on a tiny random hf: ViT, trained on ``tiny_bench`` (for onboarding)."""
    from synthtrace.backbones.tiny import save_tiny_model
    from synthtrace.training.train import train_detector

    root = tmp_path_factory.mktemp("hf_probe")
    vit = save_tiny_model("vit", root / "vit")
    train_detector(tiny_bench / "manifest.csv", root / "det", backbone=f"hf:{vit}", progress=False)
    return root / "det"


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database for one test, dropped afterwards (CI sets SYNTHTRACE_TEST_POSTGRES)."""
    url = os.environ.get("SYNTHTRACE_TEST_POSTGRES")
    if not url:
        pytest.skip("SYNTHTRACE_TEST_POSTGRES is not set (CI sets it; e.g. postgresql://postgres@127.0.0.1:55432/postgres)")
    pytest.importorskip("psycopg", reason="PostgreSQL tests need the 'postgres' extra (psycopg)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from synthtrace.store import normalize_url

    admin_url = normalize_url(url)
    name = f"synthtrace_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Store URL for both back ends (PostgreSQL skipped with a reason when not configured)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model("clip", tmp_path_factory.mktemp("tiny") / "clip")


@pytest.fixture()
def backbone(clip_dir):
    """A fresh backbone per test, so tests may wrap or replace its attributes."""
    return create_backbone(f"hf:{clip_dir}")


@pytest.fixture(scope="session")
def image_paths(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Seven small JPEG/PNG files of different sizes and aspect ratios."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(7):
        h, w = 30 + 5 * i, 70 - 6 * i
        p = root / f"img{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


@pytest.fixture()
def one_thread():
    """Fits made of many tiny ops: on a busy shared CPU, intra-op threads only add waits."""
    import torch  # heavy: only the tests that fit models need it

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
