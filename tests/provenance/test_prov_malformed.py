"""Malformed metadata of every kind gives an evidence-level error, never an exception."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from .prov_helpers import jpeg_bytes, png_bytes, xmp_packet
from synthtrace.provenance import read_provenance
from synthtrace.provenance.metadata import MAX_TEXT_BYTES


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _png_with_chunks(*chunks: bytes) -> bytes:
    base = png_bytes()
    iend = base.rindex(b"IEND") - 4
    return base[:iend] + b"".join(chunks) + base[iend:]


def _read(data: bytes):
    evidence = read_provenance("bad", data=data, watermarks=False)
    assert not [e for e in evidence if e.error and e.error.startswith("internal error")], evidence
    return evidence


def test_huge_parameters_chunk_is_refused_not_loaded():
    data = _png_with_chunks(_chunk(b"tEXt", b"parameters\x00" + b"a" * (MAX_TEXT_BYTES + 10)))
    (ev,) = [e for e in _read(data) if e.name == "a1111_parameters"]
    assert "over the" in ev.error and "limit" in ev.error and ev.direction == "none"


def test_zip_bomb_text_chunk():
    bomb = zlib.compress(b"\x00" * (64 * MAX_TEXT_BYTES), 9)  # 64 MiB → ~64 KiB
    data = _png_with_chunks(_chunk(b"zTXt", b"workflow\x00\x00" + bomb))
    (ev,) = [e for e in _read(data) if e.name == "comfyui_workflow"]
    assert "decompresses to more than" in ev.error


def test_corrupt_compressed_chunk_and_unknown_key():
    data = _png_with_chunks(_chunk(b"zTXt", b"Author\x00\x00not zlib"))
    (ev,) = [e for e in _read(data) if e.source == "metadata"]
    assert "corrupt" in ev.error and "proves" not in ev.error


def test_truncated_png_chunk():
    data = png_bytes()[:-8] + struct.pack(">I", 10_000_000) + b"tEXt" + b"parameters\x00abc"
    (ev,) = [e for e in _read(data) if e.source == "metadata"]
    assert "truncated" in ev.error


def test_broken_xmp():
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_packet("<Iptc4xmpExt:DigitalSourceType>x")[:-40])
    (ev,) = [e for e in _read(png_bytes(pnginfo=info)) if e.name == "xmp_packet"]
    assert "not well-formed" in ev.error


def test_xmp_entity_bomb_is_refused():
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>')
    (ev,) = [e for e in _read(jpeg_bytes(xmp=bomb.encode())) if e.name == "xmp_packet"]
    assert "DTD" in ev.error or "entit" in ev.error


def test_malformed_exif():
    body = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05" + b"\xff" * 30
    data = jpeg_bytes()
    data = data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]
    (ev,) = [e for e in _read(data) if e.source == "exif"]
    assert "EXIF block is malformed" in ev.error and ev.direction == "none"


def test_bad_jpeg_segment_length():
    data = jpeg_bytes()
    data = data[:2] + b"\xff\xe1\xff\xff" + b"Exif\x00\x00"
    (ev,) = [e for e in _read(data) if e.source == "metadata"]
    assert "bad length" in ev.error


def test_invalid_json_everywhere():
    info = PngImagePlugin.PngInfo()
    for key in ("prompt", "workflow", "Comment"):
        info.add_text(key, '{"a": [1, 2')
    info.add_text("Software", "NovelAI")
    evidence = _read(png_bytes(pnginfo=info))
    errors = [e for e in evidence if e.source == "params" and e.error]
    assert len(errors) == 3 and all("JSON" in e.error for e in errors)


def test_wrong_json_shapes():
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", "[1, 2, 3]")
    info.add_text("workflow", '{"nodes": 5}')
    errors = [e for e in _read(png_bytes(pnginfo=info)) if e.error]
    assert len(errors) == 2 and all(e.explanation for e in errors)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"RIFF\x00\x00\x00\x00WEBP", b"II*\x00"])
def test_empty_and_header_only_files(data):
    assert _read(data)


def test_unreadable_path(tmp_path):
    (ev,) = read_provenance(tmp_path / "missing.png")
    assert ev.error and "cannot read" in ev.error


def test_reads_from_path(tmp_path):
    path = tmp_path / "ok.jpg"
    Image.new("RGB", (16, 16)).save(path, "JPEG")
    assert read_provenance(path, watermarks=False)
    assert read_provenance(str(path), watermarks=False)


def test_internal_bug_in_a_reader_is_contained(monkeypatch):
    def boom(ext):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("synthtrace.provenance.read_exif", boom)
    evidence = read_provenance("x", data=png_bytes(), watermarks=False)
    (bug,) = [e for e in evidence if e.error and "simulated bug" in e.error]
    assert bug.source == "exif" and len(evidence) > 1




def test_comfyui_hostile_graph_stays_fast():
    import json
    import time

    # 300 combine nodes, each linking to every other: exponential if links were re-followed
    graph = {str(i): {"class_type": "ConditioningCombine",
                      "inputs": {f"c{j}": [str(j), 0] for j in range(0, 300, 7)}} for i in range(300)}
    graph["s"] = {"class_type": "KSampler", "inputs": {"seed": 1, "positive": ["0", 0]}}
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    start = time.perf_counter()
    _read(png_bytes(pnginfo=info))
    assert time.perf_counter() - start < 5
