"""Decoding tests; every fixture is built here with Pillow/numpy."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthtrace.errors import ImageTooLargeError, InputError, UnreadableImageError
from synthtrace.io import (
    IMAGE_EXTENSIONS,
    estimate_jpeg_quality,
    iter_image_files,
    load_image,
    load_image_bytes,
)
from synthtrace.io import images as images_mod


def _pattern(h: int = 24, w: int = 32) -> np.ndarray:
    """A deterministic colour pattern with distinct rows, columns and channels."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], axis=2).astype(np.uint8)


def _save(tmp_path: Path, name: str, im: Image.Image, **kw) -> Path:
    p = tmp_path / name
    im.save(p, **kw)
    return p


def _png_header_only(width: int, height: int, bit_depth: int = 8, color_type: int = 2) -> bytes:
    """A valid PNG header declaring a huge image, with almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# --- errors ---------------------------------------------------------------------------


def test_missing_file(tmp_path):
    p = tmp_path / "nope.jpg"
    with pytest.raises(UnreadableImageError, match="not found") as e:
        load_image(p)
    assert str(p) in str(e.value)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(UnreadableImageError, match="is a directory"):
        load_image(tmp_path)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(UnreadableImageError, match="empty file") as e:
        load_image(p)
    assert "empty.jpg" in str(e.value)


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_pattern(64, 64)).save(buf, "JPEG", quality=90)
    p = tmp_path / "cut.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(UnreadableImageError, match="truncated") as e:
        load_image(p)
    assert "cut.jpg" in str(e.value)
    assert not isinstance(e.value, OSError)


def test_text_file_named_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not an image\n")
    with pytest.raises(UnreadableImageError, match=r"content is not a supported image format \(JPEG, PNG") as e:
        load_image(p)
    assert "notes.png" in str(e.value)


def test_truncated_header_is_not_called_a_non_image(tmp_path):
    data = _save(tmp_path, "ok.png", Image.fromarray(_pattern())).read_bytes()
    with pytest.raises(UnreadableImageError, match="starts like a PNG file but its header is truncated"):
        load_image_bytes(data[:40], "short.png")


def test_corrupt_exif_does_not_hide_good_pixels(tmp_path):
    px = _pattern()
    p = _save(tmp_path, "e.jpg", Image.fromarray(px), quality=95, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00")
    out = load_image(p)
    assert out.rgb.shape == px.shape and out.record.exif_orientation is None


def test_format_outside_the_allow_list_is_refused(tmp_path):
    p = _save(tmp_path, "x.png", Image.fromarray(_pattern()), format="PPM")  # Pillow could read it
    with pytest.raises(UnreadableImageError, match="not a supported image format"):
        load_image(p)


def test_corrupt_png_data(tmp_path):
    data = bytearray(_save(tmp_path, "ok.png", Image.fromarray(_pattern(64, 64))).read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 20 : idat + 60] = b"\xff" * 40
    with pytest.raises(UnreadableImageError, match="bad.png"):
        load_image_bytes(bytes(data), "bad.png")


# --- decompression bombs -------------------------------------------------------------


def test_bomb_small_limit_on_real_image(tmp_path):
    p = _save(tmp_path, "big.png", Image.fromarray(_pattern(40, 50)))
    with pytest.raises(ImageTooLargeError) as e:
        load_image(p, max_pixels=1000)
    msg = str(e.value)
    assert "big.png" in msg and "50x40" in msg and "2,000" in msg and "1,000" in msg
    assert "max_pixels=" in msg and "--max-pixels" in msg
    assert load_image(p, max_pixels=2000).rgb.shape == (40, 50, 3)


@pytest.mark.parametrize("size", [(12_000, 10_000), (100_000, 100_000)])
def test_bomb_huge_png_header(size):
    """Refused from the header alone: below Pillow's own limit (our check) and far above it."""
    with pytest.raises(ImageTooLargeError, match="bomb.png") as e:
        load_image_bytes(_png_header_only(*size), "bomb.png")
    assert "--max-pixels" in str(e.value)


def test_pillow_limit_is_restored():
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(UnreadableImageError):
        load_image_bytes(b"garbage", "g.png", max_pixels=10 * (before or 1))
    assert Image.MAX_IMAGE_PIXELS == before


# --- conversions ---------------------------------------------------------------------


def test_cmyk_jpeg(tmp_path):
    cmyk = np.zeros((32, 32, 4), np.uint8)
    cmyk[..., 1:3] = 255  # magenta + yellow = red
    p = _save(tmp_path, "cmyk.jpg", Image.fromarray(cmyk, mode="CMYK"), quality=95)
    out = load_image(p)
    assert out.record.mode == "CMYK" and out.rgb.dtype == np.uint8 and out.rgb.shape == (32, 32, 3)
    r, g, b = out.rgb.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60
    assert any("CMYK" in n for n in out.record.notes)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 64 * 16).astype(np.uint16).reshape(16, 64)
    p = _save(tmp_path, "deep.png", Image.fromarray(values))
    out = load_image(p)
    assert out.record.mode.startswith("I")
    expected = np.rint(values / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(out.rgb[..., 0], expected)
    np.testing.assert_array_equal(out.rgb[..., 0], out.rgb[..., 2])
    assert len(np.unique(out.rgb)) > 200  # clipping at 255 would leave almost everything white
    assert any("16-bit" in n for n in out.record.notes)


def test_16bit_rgb_png_is_noted():
    h, w = 4, 8
    v = np.linspace(0, 65535, h * w * 3).astype(">u2").reshape(h, w, 3)
    raw = b"".join(b"\0" + v[i].tobytes() for i in range(h))
    data = bytearray(_png_header_only(w, h, bit_depth=16, color_type=2))
    idat = data.index(b"IDAT") - 4
    chunk = struct.pack(">I", len(zlib.compress(raw))) + b"IDAT" + zlib.compress(raw)
    chunk += struct.pack(">I", zlib.crc32(chunk[4:]))
    png = bytes(data[:idat]) + chunk + bytes(data[data.index(b"IEND") - 4 :])
    out = load_image_bytes(png, "deep_rgb.png")
    np.testing.assert_allclose(out.rgb.astype(int), v.astype(int) / 257, atol=1)  # scaled, not clipped
    assert "16-bit per channel RGB reduced to 8 bit (high byte)" in out.record.notes


def test_animated_gif_first_frame(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    frames = [Image.new("RGB", (16, 12), c) for c in colours]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = load_image(p)
    assert out.record.format == "GIF" and out.record.n_frames == 3
    assert out.rgb.shape == (12, 16, 3)
    np.testing.assert_array_equal(out.rgb[0, 0], [255, 0, 0])
    assert any("first of 3 frames" in n for n in out.record.notes)


def test_exif_orientation_6(tmp_path):
    h, w = 32, 48
    px = np.zeros((h, w, 3), np.uint8)
    px[: h // 2, : w // 2] = (255, 0, 0)  # top-left red
    px[: h // 2, w // 2 :] = (0, 255, 0)  # top-right green
    px[h // 2 :, : w // 2] = (0, 0, 255)  # bottom-left blue
    px[h // 2 :, w // 2 :] = (255, 255, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = _save(tmp_path, "phone.jpg", Image.fromarray(px), quality=95, exif=exif)
    out = load_image(p)
    assert (out.record.width, out.record.height) == (h, w)
    assert out.rgb.shape == (w, h, 3)
    assert out.record.exif_orientation == 6
    expected = np.rot90(px, k=-1)  # clockwise
    assert np.abs(out.rgb.astype(int) - expected.astype(int)).mean() < 8
    # after a clockwise turn the old bottom-left (blue) is top-left
    assert tuple(out.rgb[2, 2]) == pytest.approx((0, 0, 255), abs=30)
    assert any("EXIF orientation 6" in n for n in out.record.notes)


def test_no_orientation_no_note(tmp_path):
    out = load_image(_save(tmp_path, "a.jpg", Image.fromarray(_pattern())))
    assert out.record.exif_orientation is None and out.record.notes == ()


def test_palette_png(tmp_path):
    im = Image.fromarray(_pattern()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    p = _save(tmp_path, "pal.png", im)
    out = load_image(p)
    assert out.record.mode == "P"
    np.testing.assert_array_equal(out.rgb, np.asarray(im.convert("RGB")))
    assert any("palette" in n for n in out.record.notes)


def test_rgba_png_composited_on_white(tmp_path):
    px = np.zeros((4, 4, 4), np.uint8)
    px[0, 0] = (255, 0, 0, 0)  # fully transparent red → white
    px[0, 1] = (0, 0, 0, 255)  # opaque black stays black
    px[0, 2] = (0, 0, 0, 128)  # half black
    px[1:] = (10, 20, 30, 255)
    out = load_image(_save(tmp_path, "a.png", Image.fromarray(px, mode="RGBA")))
    assert out.record.mode == "RGBA"
    np.testing.assert_array_equal(out.rgb[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out.rgb[0, 1], [0, 0, 0])
    assert all(abs(int(v) - 127) <= 1 for v in out.rgb[0, 2])
    np.testing.assert_array_equal(out.rgb[1, 0], [10, 20, 30])
    assert "alpha channel composited on white" in out.record.notes


def test_grayscale(tmp_path):
    gray = _pattern()[..., 0]
    out = load_image(_save(tmp_path, "g.png", Image.fromarray(gray, mode="L")))
    assert out.record.mode == "L"
    for c in range(3):
        np.testing.assert_array_equal(out.rgb[..., c], gray)
    assert any("grayscale" in n for n in out.record.notes)


@pytest.mark.parametrize(
    ("name", "fmt", "kw"),
    [("a.webp", "WEBP", {"lossless": True}), ("a.tif", "TIFF", {}), ("a.bmp", "BMP", {}), ("a.png", "PNG", {})],
)
def test_lossless_formats_roundtrip(tmp_path, name, fmt, kw):
    px = _pattern()
    out = load_image(_save(tmp_path, name, Image.fromarray(px), **kw))
    assert out.record.format == fmt and out.record.mode == "RGB"
    assert (out.record.width, out.record.height) == (32, 24)
    np.testing.assert_array_equal(out.rgb, px)
    assert out.rgb.dtype == np.uint8 and out.rgb.flags.c_contiguous
    assert out.record.jpeg_quality is None and out.record.notes == ()


def test_heic(tmp_path):
    if not images_mod.HEIF_AVAILABLE:
        pytest.skip("pillow-heif is not installed")
    p = tmp_path / "a.heic"
    try:
        Image.fromarray(_pattern(64, 64)).save(p, format="HEIF", quality=95)
    except (KeyError, ValueError, OSError) as exc:
        pytest.skip(f"pillow-heif cannot encode HEIC here: {exc}")
    out = load_image(p)
    assert out.record.format == "HEIF" and out.rgb.shape == (64, 64, 3)
    assert np.abs(out.rgb.astype(int) - _pattern(64, 64).astype(int)).mean() < 10


# --- record fields -------------------------------------------------------------------


def test_record_fields_and_sha256(tmp_path):
    p = _save(tmp_path, "q.jpg", Image.fromarray(_pattern()), quality=80)
    data = p.read_bytes()
    rec = load_image(p).record
    assert rec.sha256 == hashlib.sha256(data).hexdigest()
    assert rec.file_size == len(data)
    assert rec.path == str(p) and rec.format == "JPEG" and rec.mode == "RGB"
    assert rec.jpeg_quality == pytest.approx(80, abs=1)
    assert rec.n_frames == 1


def test_load_image_bytes_equals_load_image(tmp_path):
    p = _save(tmp_path, "x.jpg", Image.fromarray(_pattern()), quality=70)
    a = load_image(p)
    b = load_image_bytes(p.read_bytes(), str(p))
    np.testing.assert_array_equal(a.rgb, b.rgb)
    assert a.record == b.record


@pytest.mark.parametrize("quality", [50, 75, 90, 95])
def test_estimate_jpeg_quality(quality):
    buf = io.BytesIO()
    Image.fromarray(_pattern(64, 64)).save(buf, "JPEG", quality=quality)
    with Image.open(buf) as im:
        assert estimate_jpeg_quality(im.quantization) == pytest.approx(quality, abs=1)


def test_estimate_jpeg_quality_without_tables():
    assert estimate_jpeg_quality({}) is None


# --- file discovery ------------------------------------------------------------------


def test_iter_image_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    for rel in ["b.png", "A.JPG", "sub/c.webp", "sub/d.HEIC", "readme.txt", ".hidden.jpg", ".git/x.png"]:
        (tmp_path / rel).write_bytes(b"x")
    odd = tmp_path / "odd.xyz"
    odd.write_bytes(b"x")
    found = iter_image_files([tmp_path, tmp_path / "b.png", odd])
    names = [p.relative_to(tmp_path).as_posix() for p in found]
    assert names == sorted(names) == ["A.JPG", "b.png", "odd.xyz", "sub/c.webp", "sub/d.HEIC"]
    flat = iter_image_files(tmp_path, recursive=False)
    assert [p.name for p in flat] == ["A.JPG", "b.png"]


def test_iter_image_files_missing_path(tmp_path):
    with pytest.raises(InputError, match="missing.jpg"):
        iter_image_files([tmp_path / "missing.jpg"])


def test_image_extensions_lower_case():
    assert {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".avif"} <= IMAGE_EXTENSIONS
    assert all(e == e.lower() for e in IMAGE_EXTENSIONS)
