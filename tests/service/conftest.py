"""Shared helpers for the service tests: small images, a configured app and client."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service tests need the 'service' extra (fastapi)")
pytest.importorskip("sqlalchemy", reason="the service tests need the 'service' extra (sqlalchemy)")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image, PngImagePlugin  # noqa: E402

from synthtrace.service.app import create_app  # noqa: E402
from synthtrace.service.settings import ServiceSettings  # noqa: E402

TOKEN = "test-token-0123456789abcdef"
SCRIPT = "<script>alert('pwned')</script>"
LOCAL = ("127.0.0.1", 50000)


def noise(size: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def jpeg_bytes(size: int = 96, seed: int = 0, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(noise(size, seed)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png_with_prompt(prompt: str = f"a cat {SCRIPT}", size: int = 96) -> bytes:
    """A PNG carrying an AUTOMATIC1111 'parameters' text chunk with the given prompt."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", f"{prompt}\nNegative prompt: {SCRIPT}\n"
                                f"Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: {size}x{size}, Model: sd15")
    buf = io.BytesIO()
    Image.fromarray(noise(size, 1)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def make_app(tmp_path: Path, **kw):
    kw.setdefault("token", TOKEN)
    kw.setdefault("data_dir", tmp_path / "data")
    return create_app(ServiceSettings(**kw))


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(tmp_path):
    """A local client (loopback address and host) with the token set."""
    app = make_app(tmp_path)
    with TestClient(app, base_url="http://127.0.0.1:8750", client=LOCAL, headers=auth()) as c:
        yield c

