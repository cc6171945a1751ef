"""`synthtrace scan` over a folder mixing good images with every kind of bad input."""

import csv
import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from synthtrace.cli.app import app

runner = CliRunner()


def _png_header(width, height):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.fixture()
def mixed_folder(tmp_path):
    d = tmp_path / "inbox"
    d.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(d / "good.png")
    Image.fromarray(rgb).save(d / "good.jpg", quality=90)
    Image.fromarray(rgb).convert("CMYK").save(d / "cmyk.jpg", quality=90)
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(d / "deep16.png")
    frames = [Image.fromarray(np.roll(rgb, k, axis=1)) for k in range(3)]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(d / "rotated.jpg", exif=exif, quality=90)
    bad = {
        "empty.jpg": b"",
        "truncated.jpg": (d / "good.jpg").read_bytes()[:400],
        "notes.png": b"this is a text file, not a picture\n",
        "bomb.png": _png_header(60000, 60000),
    }
    for name, data in bad.items():
        (d / name).write_bytes(data)
    good = {"good.png", "good.jpg", "cmyk.jpg", "deep16.png", "anim.gif", "rotated.jpg"}
    return d, good, set(bad)


def test_scan_reports_every_good_file_and_names_every_bad_one(mixed_folder, tiny_bundle):
    folder, good, bad = mixed_folder
    res = runner.invoke(app, ["scan", str(folder), "--detector", str(tiny_bundle), "--json"])
    assert res.exit_code == 1
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(res.stdout)}
    assert set(rows) == good | bad
    for name in good:
        assert rows[name]["ok"], rows[name]
        assert 0 <= rows[name]["detection"]["probability"] <= 1
    for name in bad:
        assert not rows[name]["ok"] and name in rows[name]["error"]
    assert "empty" in rows["empty.jpg"]["error"]
    assert "ImageTooLargeError" in rows["bomb.png"]["error"]
    assert rows["rotated.jpg"]["record"]["width"] == 96  # EXIF orientation 6 applied
    assert any("CMYK" in n for n in rows["cmyk.jpg"]["record"]["notes"])
    assert rows["anim.gif"]["record"]["n_frames"] == 3


def test_scan_csv_and_table(mixed_folder):
    folder, good, bad = mixed_folder
    res = runner.invoke(app, ["scan", str(folder), "--csv"])
    assert res.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == len(good | bad)
    assert sum(r["ok"] == "True" for r in rows) == len(good)
    res = runner.invoke(app, ["scan", str(folder / "good.png")], env={"COLUMNS": "250"})
    assert res.exit_code == 0 and "good.png" in res.stdout


def test_scan_missing_path_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["scan", str(tmp_path / "nope.jpg")])
    assert res.exit_code != 0
