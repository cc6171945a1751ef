"""C2PA: signed in the test with a self-made ES256 chain, then read back."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from .prov_helpers import jpeg_bytes, png_bytes, sign_c2pa
from synthtrace.provenance import read_provenance
from synthtrace.provenance.c2pa import read_c2pa

pytest.importorskip("c2pa", reason="c2pa-python (synthtrace[c2pa]) is not installed")


def _manifest(evidence):
    items = [e for e in evidence if e.source == "c2pa" and e.name == "c2pa_manifest"]
    assert len(items) == 1, evidence
    return items[0]


@pytest.fixture(scope="module")
def signed_jpeg(chain) -> bytes:
    return sign_c2pa(chain, jpeg_bytes((96, 96)), "image/jpeg", ingredient=jpeg_bytes((32, 32)))


@pytest.fixture()
def anchors(chain, tmp_path) -> Path:
    path = tmp_path / "anchors.pem"
    path.write_bytes(chain.root_pem)
    return path


def test_valid_but_untrusted_without_anchors(signed_jpeg):
    ev = _manifest(read_provenance("a.jpg", data=signed_jpeg, watermarks=False))
    assert ev.details["state"] == "valid_untrusted"
    assert ev.direction == "generated" and ev.strength == 1.0
    assert ev.reliability == pytest.approx(0.5)
    assert "signingCredential.untrusted" in {f["code"] for f in ev.details["failures"]}
    assert ev.details["claim_generator"].startswith("synthtrace-test-generator")
    assert ev.details["signer"] == "synthtrace Test Signer"
    created = [a for a in ev.details["actions"] if a["action"] == "c2pa.created"]
    assert created[0]["digital_source_type"].endswith("/trainedAlgorithmicMedia")
    assert created[0]["software_agent"] == "TestDiffusion 2.1"
    assert [i["title"] for i in ev.details["ingredients"]] == ["parent.jpg"]
    assert "not known to be trustworthy" in ev.explanation


def test_trusted_once_root_is_an_anchor(signed_jpeg, anchors):
    ev = _manifest(read_c2pa(signed_jpeg, "jpeg", trust_anchors=anchors))
    assert ev.details["state"] == "trusted"
    assert ev.details["trust_anchors_configured"] is True
    assert ev.reliability == pytest.approx(0.95) and ev.direction == "generated"


def test_untrusted_with_someone_elses_anchor(signed_jpeg, tmp_path):
    from .prov_helpers import make_chain

    other = tmp_path / "other.pem"
    other.write_bytes(make_chain().root_pem)
    ev = _manifest(read_c2pa(signed_jpeg, "jpeg", trust_anchors=other))
    assert ev.details["state"] == "valid_untrusted"
    assert "not on the configured trust list" in ev.explanation


def _flip_scan_byte(jpeg: bytes) -> bytes:
    """Change one entropy-coded byte near the end: the pixels change, the container stays valid."""
    data = bytearray(jpeg)
    i = len(data) - 200
    while data[i] in (0xFF, 0xFE) or data[i - 1] == 0xFF:
        i -= 1
    data[i] ^= 0x01
    return bytes(data)


def test_tampered_pixels_are_invalid(signed_jpeg, anchors):
    ev = _manifest(read_c2pa(_flip_scan_byte(signed_jpeg), "jpeg", trust_anchors=anchors))
    assert ev.details["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in {f["code"] for f in ev.details["failures"]}
    assert ev.reliability == pytest.approx(0.1)
    assert "changed after signing" in ev.explanation


def test_png_manifest_and_authentic_capture_claim(chain):
    capture = {"actions": [{"action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}
    ev = _manifest(read_c2pa(sign_c2pa(chain, png_bytes(), "image/png", capture), "png"))
    assert ev.direction == "authentic" and ev.details["state"] == "valid_untrusted"


def test_absent_is_absence_of_evidence():
    ev = _manifest(read_c2pa(png_bytes(), "png"))
    assert ev.direction == "none" and ev.error is None and ev.details["state"] == "absent"
    assert "proves nothing" in ev.explanation


def _app11_offsets(jpeg: bytes) -> list[int]:
    pos, out = 2, []
    while jpeg[pos] == 0xFF and jpeg[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        if jpeg[pos + 1] == 0xEB:
            out.append(pos)
        pos += 2 + length
    return out


def test_truncated_c2pa_box_is_an_error_not_an_exception(signed_jpeg):
    first = _app11_offsets(signed_jpeg)[0]
    for cut in (first + 40, first + 400):
        ev = _manifest(read_provenance("t.jpg", data=signed_jpeg[:cut], watermarks=False))
        assert ev.error and "could not be read" in ev.explanation


def test_corrupted_jumbf_box_inside_valid_jpeg(signed_jpeg):
    data = bytearray(signed_jpeg)
    first = _app11_offsets(signed_jpeg)[0]
    # segment header (4) + "JP" (2) + instance (2) + sequence (4) → JUMBF superbox; zero its middle
    data[first + 40 : first + 600] = bytes(560)
    ev = _manifest(read_provenance("t.jpg", data=bytes(data), watermarks=False))
    assert ev.error or ev.details["state"] == "invalid"


def test_bad_trust_anchor_file_is_reported(signed_jpeg, tmp_path):
    bad = tmp_path / "anchors.pem"
    bad.write_text("not a certificate")
    evidence = read_c2pa(signed_jpeg, "jpeg", trust_anchors=bad)
    assert any(e.name == "trust_anchors" and "no PEM certificate" in e.error for e in evidence)
    assert _manifest(evidence).details["state"] == "valid_untrusted"
    missing = read_c2pa(signed_jpeg, "jpeg", trust_anchors=tmp_path / "nope.pem")
    assert any(e.name == "trust_anchors" and "cannot read" in e.error for e in missing)


def test_missing_package_names_the_extra(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *a):
        if name == "c2pa":
            raise ImportError(name)
        return real(name, *a)

    monkeypatch.setattr("synthtrace.provenance.c2pa.importlib.import_module", fake)
    (ev,) = read_c2pa(png_bytes(), "png")
    assert "pip install synthtrace[c2pa]" in ev.error


