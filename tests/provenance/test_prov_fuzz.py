"""Property-based fuzzing of the metadata parsers: no input may raise or hit an internal error.

The default run is small (200 examples per target) to keep the suite fast. For a
long run set ``SYNTHTRACE_FUZZ_EXAMPLES`` (e.g. 20000); the counts of executions
are printed with ``-s``.
"""

from __future__ import annotations

import json
import os
import struct
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthtrace.provenance import read_provenance
from synthtrace.provenance.metadata import PNG_SIGNATURE, XMP_JPEG_HEADER, MetadataError, parse_exif, parse_xmp
from synthtrace.provenance.params import (
    decode_user_comment,
    parse_a1111,
    parse_comfy_prompt,
    parse_comfy_workflow,
)
from synthtrace.records import Evidence

EXAMPLES = int(os.environ.get("SYNTHTRACE_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 200,
                suppress_health_check=list(HealthCheck))
COUNTS: dict[str, int] = {}

TEXT_KEYS = st.sampled_from(["parameters", "prompt", "workflow", "Comment", "Description", "Software",
                             "Source", "XML:com.adobe.xmp", "Author", ""])
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=20)


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


@st.composite
def png_files(draw) -> bytes:
    chunks = []
    for _ in range(draw(st.integers(0, 4))):
        ctype = draw(st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"IDAT", b"caBX"]))
        key = draw(TEXT_KEYS).encode("latin-1")
        value = draw(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                               JSONISH.map(lambda v: json.dumps(v).encode())))
        if ctype == b"zTXt":
            body = key + b"\x00\x00" + (zlib.compress(value) if draw(st.booleans()) else value)
        elif ctype == b"iTXt":
            flag = draw(st.booleans())
            body = key + b"\x00" + bytes([flag, 0]) + b"en\x00\x00" + (zlib.compress(value) if flag else value)
        elif ctype == b"tEXt":
            body = key + b"\x00" + value
        else:
            body = value
        chunks.append(_chunk(ctype, body))
    data = PNG_SIGNATURE + b"".join(chunks) + _chunk(b"IEND", b"")
    cut = draw(st.integers(0, len(data)))
    return data if draw(st.booleans()) else data[:cut]


@st.composite
def jpeg_files(draw) -> bytes:
    segs = []
    for _ in range(draw(st.integers(0, 4))):
        marker = draw(st.sampled_from([0xE1, 0xEB, 0xFE, 0xE0]))
        head = draw(st.sampled_from([b"Exif\x00\x00", XMP_JPEG_HEADER, b"JP", b""]))
        body = head + draw(st.binary(max_size=300))
        length = draw(st.one_of(st.just(len(body) + 2), st.integers(0, 0xFFFF)))
        segs.append(bytes([0xFF, marker]) + struct.pack(">H", length) + body[: 0xFFFD])
    return b"\xff\xd8" + b"".join(segs) + b"\xff\xda\x00\x02" + draw(st.binary(max_size=50)) + b"\xff\xd9"


ANY_FILE = st.one_of(png_files(), jpeg_files(), st.binary(max_size=500),
                     st.binary(max_size=300).map(lambda b: b"RIFF\x00\x00\x00\x00WEBP" + b),
                     st.binary(max_size=300).map(lambda b: b"II*\x00" + b))


def _count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


@FUZZ
@given(ANY_FILE)
def test_fuzz_read_provenance(data: bytes) -> None:
    _count("read_provenance")
    evidence = read_provenance("fuzz", data=data, watermarks=False)
    assert evidence and all(isinstance(e, Evidence) for e in evidence)
    json.dumps([e.to_dict() for e in evidence])  # details must serialise for reports
    internal = [e.error for e in evidence if e.error and e.error.startswith("internal error")]
    assert not internal, internal


@FUZZ
@given(st.one_of(st.text(max_size=400), st.text(alphabet=",:\"\\\n Negativprompt", max_size=400)))
def test_fuzz_a1111(text: str) -> None:
    _count("parse_a1111")
    try:
        parse_a1111(text)
    except MetadataError:
        pass


@FUZZ
@given(JSONISH)
def test_fuzz_comfy(value) -> None:
    _count("parse_comfy")
    for parser in (parse_comfy_prompt, parse_comfy_workflow):
        try:
            parser(value)
        except MetadataError:
            pass
    if isinstance(value, dict):  # graph-shaped inputs reach the link follower
        graph = {str(i): {"class_type": "KSampler", "inputs": {"positive": [k, 0], "seed": v}}
                 for i, (k, v) in enumerate(value.items())}
        parse_comfy_prompt(graph)


@FUZZ
@given(st.one_of(st.binary(max_size=400),
                 st.text(max_size=300).map(lambda t: f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{t}</x:xmpmeta>'.encode())))
def test_fuzz_xmp_exif_usercomment(blob: bytes) -> None:
    _count("xmp/exif/usercomment")
    for parser in (parse_xmp, parse_exif):
        try:
            parser(blob)
        except MetadataError:
            pass
    assert isinstance(decode_user_comment(blob), str)


def teardown_module() -> None:
    if EXAMPLES > 200:
        print(f"\nfuzz executions: {COUNTS}")
