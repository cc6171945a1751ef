"""Property-based fuzzing of the readers added for issue 20: no input may raise or hit an internal error.

Each target may only raise ``MetadataError`` (a clear "this block is not in the
format" message); anything else is a crash. The default run is small (200
examples per target). For the long run:

    SYNTHTRACE_FUZZ_EXAMPLES=25000 OMP_NUM_THREADS=1 \\
        .venv/bin/python -m pytest tests/provenance/test_prov_fuzz_generators.py -s -p no:randomly

which prints the executions per target at the end (docs/provenance.md has the
figures measured).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from synthtrace.provenance import read_provenance
from synthtrace.provenance.generators import (
    a1111_tool,
    comfy_exif_fields,
    from_a1111_fields,
    keyed_json,
    parse_draw_things,
    parse_dream,
    parse_easy_diffusion,
    parse_fooocus_json,
    parse_invokeai_graph,
    parse_invokeai_metadata,
    parse_sd_metadata,
    parse_swarmui,
)
from synthtrace.provenance.metadata import PNG_SIGNATURE, MetadataError, looks_like_camera
from synthtrace.provenance.params import parse_a1111
from synthtrace.provenance.stealth import SIGNATURES, decode_stealth
from synthtrace.records import Evidence

EXAMPLES = int(os.environ.get("SYNTHTRACE_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 200,
                suppress_health_check=list(HealthCheck))
COUNTS: dict[str, int] = {}

SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSONISH = st.recursive(SCALAR, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                       max_leaves=20)
FIELD_NAMES = ["positive_prompt", "negative_prompt", "model", "loras", "seed", "steps", "cfg_scale", "scheduler",
               "width", "height", "app_version", "image", "prompt", "model_weights", "model_hash", "nodes",
               "full_prompt", "full_negative_prompt", "base_model", "resolution", "guidance_scale", "sampler",
               "version", "sui_image_params", "sui_models", "use_stable_diffusion_model", "num_inference_steps",
               "use_lora_model", "lora_alpha", "c", "uc", "size", "lora", "lora_combined_1", "name", "weight"]
SHAPED = st.recursive(
    SCALAR, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(FIELD_NAMES), c, max_size=6),
    max_leaves=30)


def _count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


def _tolerant(fn, *args) -> None:
    try:
        record = fn(*args)
    except MetadataError:
        return
    json.dumps(record.to_dict(), allow_nan=False)  # the record must serialise for reports


@FUZZ
@given(st.one_of(
    st.text(max_size=300),
    st.builds(lambda p, sw: f'"{p}" {sw}', st.text(max_size=80),
              st.lists(st.sampled_from(["-s", "-S", "-W", "-H", "-C", "-A", "-G", "-U", "20", "-1", "1e400", "x",
                                        "--seed", "[neg]", '"']), max_size=20).map(" ".join)),
))
def test_fuzz_dream(text: str) -> None:
    _count("dream")
    _tolerant(parse_dream, text)


@FUZZ
@given(st.one_of(JSONISH, SHAPED))
def test_fuzz_invokeai(value) -> None:
    _count("invokeai")
    for parser in (parse_sd_metadata, parse_invokeai_metadata, parse_invokeai_graph):
        _tolerant(parser, value)
    if isinstance(value, dict):
        _tolerant(parse_invokeai_graph, {"nodes": value})
        _tolerant(parse_sd_metadata, {"image": value})


@FUZZ
@given(st.one_of(JSONISH, SHAPED), st.text(max_size=300))
def test_fuzz_fooocus_swarm_easy_drawthings(value, text: str) -> None:
    _count("fooocus/swarmui/easydiffusion/drawthings")
    for parser in (parse_fooocus_json, parse_swarmui, parse_easy_diffusion, parse_draw_things):
        _tolerant(parser, value)
    if isinstance(value, dict):
        _tolerant(parse_swarmui, {"sui_image_params": value, "sui_models": [value]})
        _tolerant(parse_easy_diffusion, {"prompt": text, "use_stable_diffusion_model": text, **value})
    try:
        fields = parse_a1111(text)
    except MetadataError:
        return
    tool = a1111_tool(fields.get("version"))
    _tolerant(from_a1111_fields, fields, text, tool, "fuzz")


@FUZZ
@given(st.one_of(st.text(max_size=200), st.builds(lambda k, v: f"{k}:{json.dumps(v)}",
                                                  st.sampled_from(["prompt", "workflow", "x", "", "a b"]), JSONISH)),
       st.text(max_size=80))
def test_fuzz_comfy_exif_and_camera_check(text: str, other: str) -> None:
    _count("comfy-exif/camera")
    got = keyed_json(text)
    assert got is None or isinstance(got[0], str)
    comfy_exif_fields({"make": text, "model": other, "user_comment": text[::-1]})
    assert isinstance(looks_like_camera(text), bool) and isinstance(looks_like_camera(other), bool)


@st.composite
def stealth_arrays(draw) -> np.ndarray:
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    channels = draw(st.sampled_from([3, 4]))
    pix = np.frombuffer(draw(st.binary(min_size=h * w * channels, max_size=h * w * channels)), np.uint8)
    pix = pix.reshape(h, w, channels).copy()
    if draw(st.booleans()):  # a real signature, then a random length and payload
        sig = draw(st.sampled_from(sorted(SIGNATURES)))
        body = draw(st.binary(max_size=40))
        if draw(st.booleans()):
            body = gzip.compress(body)
        length = draw(st.one_of(st.just(len(body) * 8), st.integers(0, 2**32 - 1)))
        bits = np.unpackbits(np.frombuffer(sig + length.to_bytes(4, "big") + body, np.uint8))
        cols = pix.transpose(1, 0, 2).copy()
        flat = cols[..., 3].reshape(-1) if SIGNATURES[sig][0] == "alpha" and channels == 4 else cols[..., :3].reshape(-1)
        n = min(len(bits), len(flat))
        flat[:n] = (flat[:n] & 0xFE) | bits[:n]
        if SIGNATURES[sig][0] == "alpha" and channels == 4:
            cols[..., 3] = flat.reshape(cols.shape[:2])
        else:
            cols[..., :3] = flat.reshape(cols.shape[0], cols.shape[1], 3)
        pix = cols.transpose(1, 0, 2)
    return pix


@FUZZ
@given(stealth_arrays())
def test_fuzz_stealth(pixels: np.ndarray) -> None:
    _count("stealth")
    try:
        got = decode_stealth(pixels)
    except MetadataError:
        return
    assert got is None or (got[0].startswith("stealth_") and isinstance(got[1], str))


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


NEW_KEYS = st.sampled_from(["Dream", "sd-metadata", "invokeai_metadata", "invokeai_graph", "invokeai_workflow",
                            "parameters", "fooocus_scheme", "prompt", "use_stable_diffusion_model",
                            "num_inference_steps", "negative_prompt", "Software", "Comment", "XML:com.adobe.xmp"])
VALUES = st.one_of(st.text(max_size=150), JSONISH.map(json.dumps), SHAPED.map(json.dumps),
                   st.sampled_from(["fooocus", "a1111", "NovelAI", '"a cat [dog]" -s 20 -S 3'],))


@st.composite
def generator_files(draw) -> bytes:
    """PNGs with the new readers' chunks, or JPEG/WebP with EXIF text fields, sometimes with stealth bits."""
    kind = draw(st.sampled_from(["png", "jpeg", "webp"]))
    buf = io.BytesIO()
    if kind == "png":
        mode = draw(st.sampled_from(["RGB", "RGBA"]))
        Image.new(mode, (draw(st.integers(1, 20)), draw(st.integers(1, 20)))).save(buf, "PNG")
        data = buf.getvalue()
        chunks = b"".join(_chunk(b"tEXt", draw(NEW_KEYS).encode() + b"\x00" + draw(VALUES).encode("utf-8"))
                          for _ in range(draw(st.integers(0, 4))))
        return data[:8] + data[8:33] + chunks + data[33:]
    exif = Image.Exif()
    for _ in range(draw(st.integers(0, 4))):
        tag = draw(st.sampled_from([0x010F, 0x0110, 0x010E, 0x0131, 0x9286, 0x927C, 0x8298]))
        exif[tag] = draw(st.one_of(VALUES, st.builds(lambda k, v: f"{k}:{v}", st.sampled_from(["prompt", "workflow"]),
                                                     VALUES)))
    if draw(st.booleans()):
        exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + draw(VALUES).encode("utf-16-be")
    Image.new("RGB", (8, 8)).save(buf, kind.upper(), exif=exif)
    return buf.getvalue()


@FUZZ
@given(generator_files())
def test_fuzz_read_provenance_new_formats(data: bytes) -> None:
    _count("read_provenance(new formats)")
    evidence = read_provenance("fuzz", data=data, watermarks=False)
    assert evidence and all(isinstance(e, Evidence) for e in evidence)
    json.dumps([e.to_dict() for e in evidence])
    internal = [e.error for e in evidence if e.error and e.error.startswith("internal error")]
    assert not internal, internal


def test_png_signature_constant():
    assert PNG_SIGNATURE == b"\x89PNG\r\n\x1a\n"


def teardown_module() -> None:
    if EXAMPLES > 200:
        total = sum(COUNTS.values())
        print(f"\nfuzz executions (new readers): {COUNTS}, total {total}")


C2PA_KEYS = ["manifests", "active_manifest", "assertions", "label", "data", "actions", "action",
             "digitalSourceType", "softwareAgent", "name", "version", "claim_generator", "claim_generator_info",
             "signature_info", "issuer", "common_name", "ingredients", "entries", "use", "validation_state",
             "validation_results", "activeManifest", "failure", "code", "c2pa.training-mining", "c2pa.actions"]
C2PA_STORE = st.recursive(
    SCALAR | st.sampled_from(["m1", "c2pa.actions.v2", "cawg.training-mining", "Valid", "Trusted",
                              "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
                              "ChatGPT", "OpenAI", "notAllowed"]),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(C2PA_KEYS + ["m1"]), c, max_size=6),
    max_leaves=40)


@FUZZ
@given(C2PA_STORE, st.text(max_size=200))
def test_fuzz_c2pa_store_and_midjourney(store, text: str) -> None:
    """The manifest interpretation (tool naming, training-mining) on hostile stores; Midjourney descriptions."""
    from synthtrace.provenance.c2pa import _manifest_evidence
    from synthtrace.provenance.params import _midjourney

    _count("c2pa-store/midjourney")
    if isinstance(store, dict):
        ev = _manifest_evidence(store, anchors=False)
        json.dumps(ev.to_dict())
    described = f"{text} Job ID: 0b5c6e4a-1f2d-4c3b-9a8e-7d6c5b4a3f21"
    for ev in _midjourney({"Description": described, "Author": text}, {"description": text}, []):
        json.dumps(ev.to_dict())
