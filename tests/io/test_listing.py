"""Folder listing: every file of a mixed folder is read, or skipped with the reason."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from synthtrace.io.images import list_image_files, sniff_image_file
from synthtrace.tasks.scan import ScanOptions, scan_paths


def _mixed(tmp_path):
    d = tmp_path / "inbox"
    (d / "sub").mkdir(parents=True)
    (d / ".git").mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(d / "photo.jpg", quality=90)
    Image.fromarray(rgb).save(d / "download", "PNG")  # no extension, but a PNG
    Image.fromarray(rgb).save(d / "sub" / "noext_webp", "WEBP")
    (d / "notes.txt").write_text("shopping list")
    (d / "README").write_text("no extension, and text")
    (d / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 20)
    (d / "movie").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 20)  # a video, extensionless
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)  # an image name, a damaged file
    (d / ".DS_Store").write_bytes(b"\x00\x01")
    (d / ".git" / "x.png").write_bytes(b"x")
    return d


def test_listing_reads_images_and_names_every_skipped_file(tmp_path):
    d = _mixed(tmp_path)
    listing = list_image_files(d)
    assert [p.relative_to(d).as_posix() for p in listing.images] == ["broken.png", "download", "photo.jpg",
                                                                    "sub/noext_webp"]
    reasons = {s.path.relative_to(d).as_posix(): s.reason for s in listing.skipped}
    assert sorted(reasons) == [".DS_Store", ".git", "README", "clip.mp4", "movie", "notes.txt"]
    assert reasons["notes.txt"].startswith("not an image: the extension .txt")
    assert reasons["clip.mp4"].startswith("not an image: the extension .mp4")
    assert reasons["README"].startswith("no extension, and its content is not an image")
    assert reasons["movie"].startswith("no extension, and its content is not an image")
    assert "hidden file" in reasons[".DS_Store"] and "hidden folder" in reasons[".git"]


def test_not_recursive_lists_subfolders_as_skipped(tmp_path):
    d = _mixed(tmp_path)
    listing = list_image_files(d, recursive=False)
    reasons = {s.path.name: s.reason for s in listing.skipped}
    assert "not searched" in reasons["sub"] and all(p.parent == d for p in listing.images)


def test_sniff_image_file(tmp_path):
    d = _mixed(tmp_path)
    assert sniff_image_file(d / "download") == "PNG" and sniff_image_file(d / "sub" / "noext_webp") == "WebP"
    assert sniff_image_file(d / "movie") is None and sniff_image_file(d / "README") is None


def test_scan_paths_lists_every_file(tmp_path):
    d = _mixed(tmp_path)
    results = scan_paths([d], options=ScanOptions(signals=False, watermarks=False), include_skipped=True)
    status = {r.path.removeprefix(str(d) + "/"): r.status for r in results}
    assert status == {"broken.png": "failed", "download": "scanned", "photo.jpg": "scanned",
                      "sub/noext_webp": "scanned", ".DS_Store": "skipped", ".git": "skipped", "README": "skipped",
                      "clip.mp4": "skipped", "movie": "skipped", "notes.txt": "skipped"}
    assert [r.path for r in results] == sorted(r.path for r in results)
    assert all(r.ok for r in results if r.status == "skipped")
    assert scan_paths([d], options=ScanOptions(signals=False, watermarks=False))[0].skipped is None


def test_scan_cli_json_and_csv_list_every_file(tmp_path):
    from synthtrace.cli.app import app

    d = _mixed(tmp_path)
    runner = CliRunner()
    res = runner.invoke(app, ["scan", str(d), "--json", "--no-signals", "--no-watermarks"])
    assert res.exit_code == 1  # broken.png failed; every other row is still written
    rows = json.loads(res.stdout[res.stdout.index("["):])
    by_name = {r["path"].removeprefix(str(d) + "/"): r for r in rows}
    assert len(by_name) == 10
    assert by_name["notes.txt"]["status"] == "skipped" and ".txt" in by_name["notes.txt"]["skipped"]
    assert by_name["broken.png"]["status"] == "failed" and by_name["broken.png"]["error"]
    assert by_name["download"]["status"] == "scanned" and by_name["download"]["verdict"]["label"]
    res = runner.invoke(app, ["scan", str(d), "--csv", "--no-signals", "--no-watermarks"])
    table = list(csv.DictReader(io.StringIO(res.stdout[res.stdout.index("path,"):])))
    assert {r["status"] for r in table} == {"scanned", "failed", "skipped"} and len(table) == 10
    res = runner.invoke(app, ["scan", str(d), "--no-signals", "--no-watermarks"])
    assert "skipped" in res.stdout and "6 file(s) skipped" in res.output
