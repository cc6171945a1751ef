"""EXIF, XMP and IPTC metadata: what the file *says* about itself.

Everything here is unsigned: any tool can write, change or strip it. So a
declaration of generation (a generator name, an IPTC "trainedAlgorithmicMedia")
is reported as generated evidence of moderate reliability -- generators write it
themselves and people rarely forge it -- while a camera make/model is only weak
authentic evidence, because it survives editing and is trivial to forge.

The container walkers (PNG chunks, JPEG segments, WebP RIFF chunks) are written
here rather than taken from Pillow so that a damaged or oversized chunk becomes a
recorded problem for that chunk instead of an exception for the whole file, and
so that nothing larger than the limits below is ever decompressed or parsed.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from PIL import Image

from synthtrace.records import Evidence

MAX_TEXT_BYTES = 1 << 20  # one text chunk, after decompression
MAX_XMP_BYTES = 4 << 20  # one XMP packet (extended XMP reassembled)
MAX_EXIF_BYTES = 1 << 20  # the EXIF block

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXT_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"

NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
NS_XMP = "http://ns.adobe.com/xap/1.0/"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_TIFF = "http://ns.adobe.com/tiff/1.0/"
NS_EXIF = "http://ns.adobe.com/exif/1.0/"
NS_EXIF_EX = "http://cipa.jp/exif/1.0/"
NS_AUX = "http://ns.adobe.com/exif/1.0/aux/"
NS_PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
IPTC_DST_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"

# Reliability levels (see docs/provenance.md for the reasoning).
REL_DECLARED_GENERATED = 0.6  # unsigned, but written by generators and rarely forged
REL_DECLARED_AUTHENTIC = 0.2  # unsigned capture claim: exactly what a forger adds
REL_CAMERA = 0.15  # camera make/model: survives edits, trivial to forge


class MetadataError(ValueError):
    """A metadata block is malformed; the message says which and how."""


@dataclass
class Extracted:
    """Raw metadata blocks pulled out of the container, before interpretation.

    ``text_errors`` maps a text-chunk keyword to why it was not read (too large,
    bad compression, bad encoding); ``errors`` lists structural problems (a
    truncated chunk, a bad segment length). Both are reported, never raised.
    """

    format: str = "unknown"
    texts: dict[str, str] = field(default_factory=dict)
    text_errors: dict[str, str] = field(default_factory=dict)
    exif: bytes | None = None
    xmp: list[bytes] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def sniff_format(data: bytes) -> str:
    """Container type from magic bytes (extensions lie)."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return "avif" if brand in (b"avif", b"avis") else "heif"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return "unknown"


def extract(data: bytes) -> Extracted:
    """Walk the container and collect text chunks, EXIF and XMP packets."""
    out = Extracted(format=sniff_format(data))
    walker = {"png": _walk_png, "jpeg": _walk_jpeg, "webp": _walk_webp}.get(out.format)
    if walker is not None:
        try:
            walker(data, out)
        except Exception as exc:  # defensive: a walker bug must not end the scan
            out.errors.append(f"{out.format} container could not be walked: {exc!r}")
    else:
        _pillow_fallback(data, out)
    if not out.xmp:
        packet = _scan_xmp(data)
        if packet is not None:
            out.xmp.append(packet)
    return out


def missing_extra(source: str, extra: str, package: str) -> Evidence:
    """The evidence item for an optional reader whose package is not installed."""
    return Evidence(
        source=source, name=f"{source}_unavailable",
        error=f"{package} is not installed; install it with `pip install synthtrace[{extra}]`",
        explanation=f"This check was not run because the optional package {package} is missing. "
        f"Install it with `pip install synthtrace[{extra}]`.")


# --------------------------------------------------------------------- PNG --


def _bounded_inflate(blob: bytes, what: str) -> bytes:
    d = zlib.decompressobj()
    try:
        raw = d.decompress(blob, MAX_TEXT_BYTES + 1)
    except zlib.error as exc:
        raise MetadataError(f"{what}: compressed text is corrupt ({exc})") from None
    if len(raw) > MAX_TEXT_BYTES or d.unconsumed_tail:
        raise MetadataError(f"{what}: decompresses to more than {MAX_TEXT_BYTES} bytes; not read")
    return raw


def _parse_text_chunk(ctype: bytes, body: bytes) -> tuple[str, str]:
    key_raw, sep, rest = body.partition(b"\x00")
    if not sep or not 1 <= len(key_raw) <= 79:
        raise MetadataError(f"{ctype.decode()} chunk has no valid keyword")
    key = key_raw.decode("latin-1")
    if ctype == b"tEXt":
        return key, rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:
            raise MetadataError(f"zTXt '{key}': unknown compression method")
        return key, _bounded_inflate(rest[1:], f"zTXt '{key}'").decode("latin-1")
    # iTXt: compression flag, method, language\0, translated keyword\0, UTF-8 text
    if len(rest) < 2:
        raise MetadataError(f"iTXt '{key}' is truncated")
    flag, method = rest[0], rest[1]
    parts = rest[2:].split(b"\x00", 2)
    if len(parts) != 3:
        raise MetadataError(f"iTXt '{key}' is missing its language or translated keyword")
    text = parts[2]
    if flag:
        if method != 0:
            raise MetadataError(f"iTXt '{key}': unknown compression method")
        text = _bounded_inflate(text, f"iTXt '{key}'")
    try:
        return key, text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MetadataError(f"iTXt '{key}' is not valid UTF-8 ({exc.reason})") from None


def _walk_png(data: bytes, out: Extracted) -> None:
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if end + 4 > len(data):
            out.errors.append(
                f"PNG chunk {ctype!r} at byte {pos} claims {length} bytes but the file ends first (truncated)"
            )
            return
        pos = end + 4
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            key = data[start : min(end, start + 80)].partition(b"\x00")[0].decode("latin-1")
            if length > MAX_TEXT_BYTES:
                out.text_errors[key] = (
                    f"PNG text chunk '{key}' is {length} bytes, over the {MAX_TEXT_BYTES}-byte limit; not read"
                )
                continue
            try:
                key, text = _parse_text_chunk(ctype, data[start:end])
            except MetadataError as exc:
                out.text_errors[key or "?"] = str(exc)
                continue
            if key == "XML:com.adobe.xmp":
                out.xmp.append(text.encode("utf-8"))
            else:
                out.texts.setdefault(key, text)
        elif ctype == b"eXIf":
            out.exif = data[start:end] if length <= MAX_EXIF_BYTES else None
            if length > MAX_EXIF_BYTES:
                out.errors.append(f"PNG eXIf chunk is {length} bytes, over the limit; not read")
        elif ctype == b"IEND":
            return


# -------------------------------------------------------------------- JPEG --


def _walk_jpeg(data: bytes, out: Extracted) -> None:
    pos, ext_parts = 2, {}
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            out.errors.append(f"JPEG: expected a marker at byte {pos}, found 0x{data[pos]:02x}; stopped reading")
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan: metadata is over
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            out.errors.append(f"JPEG segment 0xFF{marker:02X} at byte {pos} has a bad length ({length}); truncated?")
            break
        body = data[pos + 4 : pos + 2 + length]
        pos += 2 + length
        if marker == 0xE1 and body.startswith(b"Exif\x00\x00") and out.exif is None:
            out.exif = body
        elif marker == 0xE1 and body.startswith(XMP_JPEG_HEADER):
            out.xmp.append(body[len(XMP_JPEG_HEADER) :])
        elif marker == 0xE1 and body.startswith(XMP_EXT_HEADER):
            _collect_extended_xmp(body[len(XMP_EXT_HEADER) :], ext_parts, out)
        elif marker == 0xFE:
            out.comments.append(body.decode("utf-8", "replace"))
    for guid, (total, parts) in ext_parts.items():
        blob = b"".join(parts[o] for o in sorted(parts))
        if len(blob) == total:
            out.xmp.append(blob)
        else:
            out.errors.append(f"extended XMP {guid} is incomplete ({len(blob)} of {total} bytes)")


def _collect_extended_xmp(body: bytes, parts: dict[str, Any], out: Extracted) -> None:
    if len(body) < 40:
        out.errors.append("extended XMP segment is truncated")
        return
    guid = body[:32].decode("latin-1")
    total, offset = struct.unpack(">II", body[32:40])
    if total > MAX_XMP_BYTES:
        out.errors.append(f"extended XMP {guid} declares {total} bytes, over the limit; not read")
        return
    parts.setdefault(guid, (total, {}))[1][offset] = body[40:]


# -------------------------------------------------------------------- WebP --


def _walk_webp(data: bytes, out: Extracted) -> None:
    pos = 12
    while pos + 8 <= len(data):
        fourcc, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if pos + 8 + size > len(data):
            out.errors.append(f"WebP chunk {fourcc!r} at byte {pos} is truncated")
            return
        body = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
        if fourcc == b"EXIF":
            out.exif = body if size <= MAX_EXIF_BYTES else None
        elif fourcc == b"XMP " and size <= MAX_XMP_BYTES:
            out.xmp.append(body)


def _pillow_fallback(data: bytes, out: Extracted) -> None:
    """TIFF/HEIF/others: let Pillow find EXIF and the XMP tag without decoding pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(BytesIO(data)) as im:
                exif = im.getexif()
                if len(exif):
                    out.exif = exif.tobytes()
                xmp = im.info.get("xmp") or getattr(im, "tag_v2", {}).get(700)
                if isinstance(xmp, str):
                    xmp = xmp.encode("utf-8")
                if isinstance(xmp, bytes) and len(xmp) <= MAX_XMP_BYTES:
                    out.xmp.append(xmp)
    except Exception:
        return  # not an image Pillow knows; the byte scan below may still find XMP


def _scan_xmp(data: bytes) -> bytes | None:
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return None
    end = data.find(b"</x:xmpmeta>", start, start + MAX_XMP_BYTES)
    return data[start : end + len(b"</x:xmpmeta>")] if end >= 0 else data[start : start + 65536]


# --------------------------------------------------------------------- XMP --

XmpProps = dict[tuple[str, str], list[str]]


def parse_xmp(packet: bytes) -> XmpProps:
    """Flatten an XMP packet to {(namespace URI, name): [values]}.

    Parsed with defusedxml (no DTDs, no entities, no external references), so a
    hostile packet cannot expand or fetch anything. Keys use namespace URIs, not
    prefixes, because prefixes are arbitrary.
    """
    if len(packet) > MAX_XMP_BYTES:
        raise MetadataError(f"XMP packet is {len(packet)} bytes, over the {MAX_XMP_BYTES}-byte limit")
    start = packet.find(b"<x:xmpmeta")
    if start < 0:
        start = packet.find(b"<rdf:RDF")
    end = packet.rfind(b"</x:xmpmeta>")
    body = packet[max(start, 0) : end + 12] if end >= 0 and start >= 0 else packet.strip(b"\x00 \r\n\t")
    try:
        root = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MetadataError(f"XMP packet uses a DTD or entities, refused for safety ({type(exc).__name__})") from None
    except Exception as exc:  # ParseError, ValueError on bad encodings
        raise MetadataError(f"XMP packet is not well-formed XML ({exc})") from None
    props: XmpProps = {}
    for desc in root.iter(f"{{{NS_RDF}}}Description"):
        for attr, value in desc.attrib.items():
            if attr.startswith("{") and not attr.startswith(f"{{{NS_RDF}}}"):
                props.setdefault(_split(attr), []).append(value.strip())
        for child in desc:
            props.setdefault(_split(child.tag), []).extend(_values(child))
    return props


def _split(tag: str) -> tuple[str, str]:
    ns, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return ns, local


def _values(el: Element) -> list[str]:
    resource = el.get(f"{{{NS_RDF}}}resource")
    if resource:
        return [resource.strip()]
    lis = [li for li in el.iter(f"{{{NS_RDF}}}li")]
    if lis:
        return [(li.text or "").strip() for li in lis if (li.text or "").strip()]
    text = (el.text or "").strip()
    return [text] if text else []


# ----------------------------------------------------------- IPTC vocabulary --

# term -> (direction, strength, plain-language meaning)
DIGITAL_SOURCE_TYPES: dict[str, tuple[str, float, str]] = {
    "trainedAlgorithmicMedia": ("generated", 1.0, "created by a generative AI model"),
    "compositeWithTrainedAlgorithmicMedia": (
        "generated", 0.8, "a composite that includes generative-AI content (e.g. generative fill)"),
    "algorithmicMedia": ("generated", 0.7, "created purely by an algorithm (not a trained model)"),
    "compositeSynthetic": ("generated", 0.6, "a composite that includes synthetic elements"),
    "dataDrivenMedia": ("none", 0.0, "produced by an algorithm from data (a chart, a visualisation)"),
    "algorithmicallyEnhanced": ("none", 0.0, "a capture with minor algorithmic enhancement"),
    "digitalCapture": ("authentic", 0.8, "an original digital capture (a camera)"),
    "computationalCapture": ("authentic", 0.6, "a capture processed by the device (e.g. phone HDR)"),
    "negativeFilm": ("authentic", 0.7, "a scan of a film negative"),
    "positiveFilm": ("authentic", 0.7, "a scan of a film slide"),
    "print": ("authentic", 0.5, "a scan of a print"),
    "compositeCapture": ("authentic", 0.4, "a composite of several captures"),
    "humanEdits": ("none", 0.0, "a capture edited by a person"),
    "minorHumanEdits": ("none", 0.0, "a capture with minor human edits"),
    "composite": ("none", 0.0, "a composite of several elements"),
    "digitalCreation": ("none", 0.0, "made by a person with digital tools"),
    "digitalArt": ("none", 0.0, "made by a person with digital tools"),
    "virtualRecording": ("none", 0.0, "a recording of a virtual scene"),
    "screenCapture": ("none", 0.0, "a screenshot"),
    "softwareImage": ("none", 0.0, "made by software (deprecated term)"),
}


def classify_source_type(value: str) -> tuple[str, str, float, str]:
    """Map a digital source type (full IPTC URI or bare term) to its meaning.

    Returns (term, direction, strength, meaning); unknown terms point nowhere.
    C2PA uses the same IPTC vocabulary, so c2pa.py shares this table.
    """
    term = value.strip().rstrip("/").rsplit("/", 1)[-1]
    for known, (direction, strength, meaning) in DIGITAL_SOURCE_TYPES.items():
        if term.lower() == known.lower():
            return known, direction, strength, meaning
    return term, "none", 0.0, "a source type synthtrace does not know"


# ---------------------------------------------------------- generator names --

# lower-case substring -> (display name, kind); "generator" means declared-generated.
KNOWN_SOFTWARE: tuple[tuple[str, str, str], ...] = (
    ("stable diffusion", "Stable Diffusion", "generator"),
    ("stable-diffusion", "Stable Diffusion", "generator"),
    ("automatic1111", "Stable Diffusion web UI (AUTOMATIC1111)", "generator"),
    ("comfyui", "ComfyUI", "generator"),
    ("novelai", "NovelAI", "generator"),
    ("midjourney", "Midjourney", "generator"),
    ("dall-e", "DALL·E", "generator"),
    ("dall·e", "DALL·E", "generator"),
    ("dalle", "DALL·E", "generator"),
    ("chatgpt", "ChatGPT image generation", "generator"),
    ("gpt-4o", "ChatGPT image generation", "generator"),
    ("firefly", "Adobe Firefly", "generator"),
    ("generative fill", "Photoshop generative fill", "generator"),
    ("invokeai", "InvokeAI", "generator"),
    ("fooocus", "Fooocus", "generator"),
    ("imagen", "Google Imagen", "generator"),
    ("leonardo.ai", "Leonardo.Ai", "generator"),
    ("ideogram", "Ideogram", "generator"),
    ("craiyon", "Craiyon", "generator"),
    ("dreamstudio", "DreamStudio", "generator"),
    ("bing image creator", "Bing Image Creator", "generator"),
    ("image creator from microsoft", "Bing Image Creator", "generator"),
    ("microsoft designer", "Microsoft Designer", "generator"),
    ("copilot", "Microsoft Copilot", "generator"),
    ("gemini", "Google Gemini", "generator"),
    ("openai", "OpenAI", "generator"),
    ("gpt-image", "ChatGPT image generation", "generator"),
    ("swarmui", "SwarmUI", "generator"),
    ("draw things", "Draw Things", "generator"),
    ("easy diffusion", "Easy Diffusion", "generator"),
    ("stable diffusion webui forge", "Stable Diffusion WebUI Forge", "generator"),
    ("meta ai", "Meta AI", "generator"),
    ("photoshop", "Adobe Photoshop", "editor"),
    ("lightroom", "Adobe Lightroom", "editor"),
    ("gimp", "GIMP", "editor"),
    ("affinity", "Affinity Photo", "editor"),
    ("pixelmator", "Pixelmator", "editor"),
    ("snapseed", "Snapseed", "editor"),
    ("paint.net", "Paint.NET", "editor"),
    ("canva", "Canva", "editor"),
)


def match_software(value: str) -> tuple[str, str] | None:
    """(display name, kind) of a known generator or editor named in ``value``."""
    low = value.lower()
    for needle, display, kind in KNOWN_SOFTWARE:
        if needle in low:
            return display, kind
    return None


# ------------------------------------------------------------------ readers --


def read_xmp_iptc(ext: Extracted) -> list[Evidence]:
    """IPTC DigitalSourceType / AISystemUsed and XMP camera + software fields."""
    out: list[Evidence] = []
    found = False
    for i, packet in enumerate(ext.xmp):
        try:
            props = parse_xmp(packet)
        except MetadataError as exc:
            out.append(Evidence(
                source="xmp", name="xmp_packet", error=str(exc),
                explanation="The file's XMP metadata is damaged and could not be read; other metadata was still checked.",
                details={"packet": i, "bytes": len(packet)}))
            continue
        for value in props.get((NS_IPTC_EXT, "DigitalSourceType"), []):
            found = True
            out.append(_source_type_evidence(value, props))
        fields = {
            "make": _first(props, (NS_TIFF, "Make")),
            "model": _first(props, (NS_TIFF, "Model")),
            "lens": _first(props, (NS_AUX, "Lens")) or _first(props, (NS_EXIF_EX, "LensModel")),
            "capture_time": _first(props, (NS_EXIF, "DateTimeOriginal"))
            or _first(props, (NS_PHOTOSHOP, "DateCreated")),
            "software": _first(props, (NS_XMP, "CreatorTool")),
        }
        ev = camera_and_software("xmp", {k: v for k, v in fields.items() if v})
        found = found or bool(ev)
        out.extend(ev)
    if not found and not any(e.error for e in out):
        out.append(Evidence(
            source="iptc", name="digital_source_type",
            explanation="No IPTC digital source type or XMP camera/software fields. Most images carry none, "
            "and metadata is easily stripped, so this absence proves nothing either way.",
            details={"xmp_packets": len(ext.xmp)}))
    return out


def _first(props: XmpProps, key: tuple[str, str]) -> str | None:
    values = props.get(key) or []
    return values[0][:500] if values else None


def _source_type_evidence(value: str, props: XmpProps) -> Evidence:
    term, direction, strength, meaning = classify_source_type(value)
    ai_system = _first(props, (NS_IPTC_EXT, "AISystemUsed"))
    details: dict[str, Any] = {"value": value[:500], "term": term, "signed": False}
    if ai_system:
        details["ai_system_used"] = ai_system
    tool = ai_system or _first(props, (NS_XMP, "CreatorTool"))
    hit = match_software(tool) if tool and direction == "generated" else None
    if ai_system or (hit and hit[1] == "generator"):
        details["generator"] = ai_system or (hit[0] if hit else None)
    version = _first(props, (NS_IPTC_EXT, "AISystemVersionUsed"))
    if version:
        details["ai_system_version"] = version
    reliability = REL_DECLARED_GENERATED if direction == "generated" else REL_DECLARED_AUTHENTIC
    tail = f" (AI system named: {ai_system})" if ai_system else ""
    return Evidence(
        source="iptc", name="digital_source_type", direction=direction, strength=strength,
        reliability=reliability if direction != "none" else 0.0, details=details,
        explanation=f"The file's IPTC metadata says it is {meaning}{tail}. This label is not signed: "
        "anyone can add, change or remove it.")


def camera_and_software(source: str, fields: dict[str, str]) -> list[Evidence]:
    """Evidence from camera make/model and software name (shared by EXIF and XMP)."""
    out: list[Evidence] = []
    for key in ("make", "model"):
        value = fields.get(key)
        hit = match_software(value) if isinstance(value, str) and len(value) <= 200 else None
        if hit and hit[1] == "generator" and not fields.get("software"):
            # a generator's name where a camera's should be is a declaration of the tool
            fields = {**fields, "software": value}
    camera = {k: fields[k] for k in ("make", "model") if isinstance(fields.get(k), str) and looks_like_camera(fields[k])}
    rejected = sorted(k for k in ("make", "model") if fields.get(k) and k not in camera)
    if rejected:  # one field holding JSON or a prompt makes the pair something other than a camera's
        camera = {}
    if camera:
        camera.update({k: fields[k] for k in ("lens", "capture_time", *EXPOSURE_KEYS) if fields.get(k) is not None})
        desc = " ".join(v for v in (camera.get("make"), camera.get("model")) if v)
        out.append(Evidence(
            source=source, name="camera", direction="authentic", strength=0.3, reliability=REL_CAMERA,
            details=camera,
            explanation=f"The metadata names a camera ({desc}). This is weak evidence: camera fields survive "
            "editing and can be copied into any file with free tools."))
    elif rejected:
        out.append(Evidence(
            source=source, name="not_a_camera", details={"fields": rejected},
            explanation=f"The {' and '.join(rejected)} field(s) hold something other than a camera name (JSON, a "
            "prompt, long text or a generator's name), so they are not counted as camera evidence. Generator "
            "data found there is reported by the generator-parameter reader."))
    software = fields.get("software")
    if software:
        hit = match_software(software)
        if hit and hit[1] == "generator":
            out.append(Evidence(
                source=source, name="software", direction="generated", strength=0.9,
                reliability=REL_DECLARED_GENERATED, details={"software": software, "generator": hit[0]},
                explanation=f"The metadata says the image was made with {hit[0]}, a generative-AI tool. "
                "This declaration is not signed and can be removed or added by anyone."))
        else:
            note = f" ({hit[0]}, an image editor)" if hit else ""
            out.append(Evidence(
                source=source, name="software", details={"software": software, "editor": hit[0] if hit else None},
                explanation=f"The metadata names the software {software!r}{note}. Editing software alone says "
                "nothing about generative AI."))
    return out


EXIF_TAGS = {"make": 0x010F, "model": 0x0110, "software": 0x0131, "description": 0x010E,
             "artist": 0x013B, "copyright": 0x8298, "document_name": 0x010D}
EXIF_SUB = {"capture_time": 0x9003, "lens": 0xA434, "user_comment": 0x9286, "exposure_time": 0x829A,
            "f_number": 0x829D, "iso": 0x8827, "focal_length": 0x920A}
# Some writers put these Exif-IFD tags in IFD0 (Fooocus: its parameters in UserComment, the
# scheme in MakerNote); read there they are generator fields, never a camera's maker note.
EXIF_IFD0_EXTRA = {"ifd0_user_comment": 0x9286, "ifd0_maker_note": 0x927C}
EXPOSURE_KEYS = ("exposure_time", "f_number", "iso", "focal_length")


def parse_exif(blob: bytes, *, limit: int | None = 1000) -> dict[str, Any]:
    """Selected EXIF fields as Python values (strings; UserComment as raw bytes).

    Text is cut at ``limit`` characters (camera fields are short); the
    generator readers pass ``limit=None`` because ComfyUI and others store whole
    JSON graphs in Make, Model and ImageDescription.
    """
    if len(blob) > MAX_EXIF_BYTES:
        raise MetadataError(f"EXIF block is {len(blob)} bytes, over the limit")
    exif = Image.Exif()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exif.load(blob)
            sub = exif.get_ifd(0x8769)
            raw = ({k: exif.get(t) for k, t in EXIF_TAGS.items()} | {k: sub.get(t) for k, t in EXIF_SUB.items()}
                   | {k: exif.get(t) for k, t in EXIF_IFD0_EXTRA.items()})
    except Exception as exc:
        raise MetadataError(f"EXIF block is malformed ({type(exc).__name__}: {exc})") from None
    if caught and not len(exif) and not len(sub):
        raise MetadataError(f"EXIF block is malformed ({caught[0].message})")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if key in ("user_comment", "ifd0_user_comment"):
            out[key] = bytes(value) if isinstance(value, (bytes, bytearray)) else str(value).encode("utf-8")
        elif key in EXPOSURE_KEYS:
            out[key] = _number(value)
        elif isinstance(value, (bytes, bytearray)):
            out[key] = bytes(value).decode("utf-8", "replace").strip("\x00 ")[:limit]
        else:
            out[key] = _utf8_fix(str(value)).strip("\x00 ")[:limit]
    return {k: v for k, v in out.items() if v not in ("", b"", None)}


def _number(value: Any) -> float | None:
    """An EXIF rational or integer (or a tuple of them, for ISO) as a float; None when not numeric."""
    if isinstance(value, tuple):
        value = value[0] if value else None
    try:
        f = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if f == f and abs(f) != float("inf") else None


_NOT_CAMERA_MARKS = ("{", "[", "<", "\n", "prompt:", "workflow:", "parameters:", "negative prompt", "steps:")


def looks_like_camera(value: str) -> bool:
    """Whether a Make or Model value reads like a camera maker or model name.

    Camera makers write short names ("Canon", "NIKON CORPORATION", "iPhone 13 Pro").
    A long value, JSON, markup, several lines, a prompt, a settings line, or a
    generator's name is something else (ComfyUI stores its whole graph in Make and
    Model), and must never count as a camera.
    """
    text = value.strip()
    if not text or len(text) > 64:
        return False
    low = text.lower()
    if any(mark in low for mark in _NOT_CAMERA_MARKS):
        return False
    hit = match_software(text)
    if hit and hit[1] == "generator":
        return False
    return sum(ch.isprintable() for ch in text) == len(text)


def _utf8_fix(text: str) -> str:
    """EXIF ASCII fields often hold UTF-8 that Pillow decoded as Latin-1; undo that when it fits."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def read_exif(ext: Extracted) -> list[Evidence]:
    """Camera make/model/lens/time and Software from EXIF."""
    if ext.exif is None:
        return [Evidence(
            source="exif", name="exif",
            explanation="No EXIF metadata. Many sites and tools strip it, so its absence proves nothing.")]
    try:
        fields = parse_exif(ext.exif)
    except MetadataError as exc:
        return [Evidence(
            source="exif", name="exif", error=str(exc), details={"bytes": len(ext.exif)},
            explanation="The file's EXIF metadata is damaged and could not be read; other metadata was still checked.")]
    found = camera_and_software("exif", fields)
    if not found:
        found = [Evidence(
            source="exif", name="exif", details={"fields": sorted(k for k in fields if k != "user_comment")},
            explanation="EXIF metadata is present but names no camera and no software; this proves nothing.")]
    return found

