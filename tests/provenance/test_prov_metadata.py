"""IPTC digital source type, XMP and EXIF camera/software fields."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from .prov_helpers import jpeg_bytes, png_bytes, xmp_packet
from synthtrace.provenance import read_provenance
from synthtrace.provenance.metadata import (
    DIGITAL_SOURCE_TYPES,
    IPTC_DST_PREFIX,
    classify_source_type,
    extract,
    match_software,
    parse_xmp,
)


def _dst(evidence):
    hits = [e for e in evidence if e.source == "iptc" and e.name == "digital_source_type"]
    assert len(hits) == 1, [e.to_dict() for e in evidence]
    return hits[0]


def _png_xmp(packet: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet)
    return png_bytes(pnginfo=info)


@pytest.mark.parametrize("term", sorted(DIGITAL_SOURCE_TYPES))
@pytest.mark.parametrize("form", ["uri_element", "bare_attribute"])
def test_each_digital_source_type(term, form):
    if form == "uri_element":
        packet = xmp_packet(f"<Iptc4xmpExt:DigitalSourceType>{IPTC_DST_PREFIX}{term}</Iptc4xmpExt:DigitalSourceType>"
                            "<Iptc4xmpExt:AISystemUsed>TestGen</Iptc4xmpExt:AISystemUsed>")
    else:
        packet = xmp_packet("", as_attribute=f'Iptc4xmpExt:DigitalSourceType="{term}"')
    ev = _dst(read_provenance("x.png", data=_png_xmp(packet), watermarks=False))
    direction, strength, _ = DIGITAL_SOURCE_TYPES[term]
    assert (ev.details["term"], ev.direction, ev.strength) == (term, direction, strength)
    assert ev.details["signed"] is False and "not signed" in ev.explanation
    if form == "uri_element":
        assert ev.details["ai_system_used"] == "TestGen"
    if direction == "generated":
        assert ev.reliability == pytest.approx(0.6)
    elif direction == "authentic":
        assert ev.reliability == pytest.approx(0.2)


def test_generated_terms():
    generated = {t for t, (d, _, _) in DIGITAL_SOURCE_TYPES.items() if d == "generated"}
    assert {"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia",
            "algorithmicMedia", "compositeSynthetic"} <= generated
    assert classify_source_type("http://cv.iptc.org/newscodes/digitalsourcetype/newTermFrom2030")[1] == "none"


@pytest.mark.parametrize("container", ["jpeg", "webp", "tiff", "png"])
def test_xmp_found_in_every_container(container):
    packet = xmp_packet("<Iptc4xmpExt:DigitalSourceType>"
                        f"{IPTC_DST_PREFIX}trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>")
    img, buf = Image.new("RGB", (32, 32)), io.BytesIO()
    if container == "tiff":
        img.save(buf, "TIFF", tiffinfo={700: packet.encode()})
    elif container == "png":
        buf.write(_png_xmp(packet))
    else:
        img.save(buf, container.upper(), xmp=packet.encode())
    assert extract(buf.getvalue()).xmp, container
    assert _dst(read_provenance("x", data=buf.getvalue(), watermarks=False)).direction == "generated"


def test_xmp_found_by_scanning_unknown_container():
    packet = xmp_packet("", as_attribute='Iptc4xmpExt:DigitalSourceType="trainedAlgorithmicMedia"')
    data = b"\x00\x01unknown-container" + packet.encode() + b"\x00" * 10
    assert _dst(read_provenance("x.bin", data=data, watermarks=False)).direction == "generated"


def test_xmp_camera_and_creator_tool():
    packet = xmp_packet("<tiff:Make>NIKON CORPORATION</tiff:Make><tiff:Model>NIKON Z 6</tiff:Model>"
                        "<xmp:CreatorTool>Adobe Firefly Image 3</xmp:CreatorTool>")
    evidence = read_provenance("x.png", data=_png_xmp(packet), watermarks=False)
    cam = [e for e in evidence if e.source == "xmp" and e.name == "camera"][0]
    soft = [e for e in evidence if e.source == "xmp" and e.name == "software"][0]
    assert cam.direction == "authentic" and cam.reliability <= 0.2
    assert soft.direction == "generated" and soft.details["generator"] == "Adobe Firefly"


def _exif_jpeg(**tags) -> bytes:
    exif = Image.Exif()
    ids = {"make": 0x010F, "model": 0x0110, "software": 0x0131}
    for key, value in tags.items():
        if key in ids:
            exif[ids[key]] = value
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"
    exif.get_ifd(0x8769)[0xA434] = "RF24-105mm F4 L IS USM"
    return jpeg_bytes(exif=exif)


def test_exif_camera_is_weak_authentic():
    evidence = read_provenance("c.jpg", data=_exif_jpeg(make="Canon", model="Canon EOS R5"), watermarks=False)
    (cam,) = [e for e in evidence if e.source == "exif" and e.name == "camera"]
    assert cam.direction == "authentic" and cam.reliability < 0.2 and cam.strength <= 0.3
    assert cam.details == {"make": "Canon", "model": "Canon EOS R5", "lens": "RF24-105mm F4 L IS USM",
                           "capture_time": "2024:05:06 07:08:09"}
    assert "forge" in cam.explanation or "copied" in cam.explanation


@pytest.mark.parametrize("software,direction,label", [
    ("Adobe Firefly", "generated", "Adobe Firefly"),
    ("Midjourney", "generated", "Midjourney"),
    ("DALL-E 3", "generated", "DALL·E"),
    ("NovelAI", "generated", "NovelAI"),
    ("ComfyUI", "generated", "ComfyUI"),
    ("Stable Diffusion", "generated", "Stable Diffusion"),
    ("Adobe Photoshop 25.0 (Windows)", "none", "Adobe Photoshop"),
    ("GIMP 2.10.34", "none", "GIMP"),
])
def test_exif_software_table(software, direction, label):
    evidence = read_provenance("c.jpg", data=_exif_jpeg(software=software), watermarks=False)
    (soft,) = [e for e in evidence if e.source == "exif" and e.name == "software"]
    assert soft.direction == direction
    assert label in (soft.details.get("generator") or soft.details.get("editor"))
    assert match_software(software)[0] == label


def test_photoshop_generative_fill_is_generated():
    assert match_software("Adobe Photoshop Generative Fill") == ("Photoshop generative fill", "generator")


def test_clean_file_reports_only_absence():
    evidence = read_provenance("x.png", data=png_bytes(), watermarks=False)
    assert evidence and all(e.direction == "none" and e.error is None for e in evidence)


def test_parse_xmp_uses_namespaces_not_prefixes():
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              '<rdf:Description xmlns:foo="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
              'foo:DigitalSourceType="digitalCapture"/></rdf:RDF></x:xmpmeta>')
    props = parse_xmp(packet.encode())
    assert props[("http://iptc.org/std/Iptc4xmpExt/2008-02-29/", "DigitalSourceType")] == ["digitalCapture"]
