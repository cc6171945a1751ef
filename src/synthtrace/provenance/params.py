"""Generation parameters that generator front-ends write into the file.

AUTOMATIC1111 (and Forge, SD.Next, Fooocus in A1111 mode) write a PNG text chunk
``parameters`` or, for JPEG/WebP, an EXIF UserComment; ComfyUI writes its graph
as ``prompt`` (API form) and ``workflow`` (UI form) JSON chunks; NovelAI writes
``Software``/``Source``/``Description``/``Comment``; Midjourney puts the prompt and
a ``Job ID`` in the description. These are parsed into a few structured fields a
reader can check (prompt, sampler, seed, model...), not dumped raw.

Such a block is strong evidence *if present* -- cameras never write it -- but it
is unsigned and one re-save removes it, hence the moderate reliability.
"""

from __future__ import annotations

import json
import re
from typing import Any

from synthtrace.provenance.metadata import (
    NS_DC,
    REL_DECLARED_GENERATED,
    Extracted,
    MetadataError,
    parse_exif,
    parse_xmp,
)
from synthtrace.records import Evidence

MAX_FIELD_CHARS = 10_000  # prompts longer than this are cut in the report
KNOWN_KEYS = frozenset({"parameters", "prompt", "workflow", "Comment", "Description", "Software", "Source"})
_KEY_RE = re.compile(r"^\w[\w \-/]*$")
_JOB_RE = re.compile(r"Job ID:\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")
_MJ_FLAG_RE = re.compile(r"--(\w+)(?:\s+([^\s-][^\s]*))?")


def _cut(text: str) -> str:
    return text if len(text) <= MAX_FIELD_CHARS else text[:MAX_FIELD_CHARS] + " [...]"


# --------------------------------------------------------------- A1111 --


def _split_settings(line: str) -> dict[str, str]:
    """Split ``Key: value, Key: "quoted, value"`` in linear time (no regex backtracking)."""
    pieces, buf, quoted, escaped = [], [], False, False
    for ch in line:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            buf.append(ch)
            escaped = True
        elif ch == '"':
            buf.append(ch)
            quoted = not quoted
        elif ch == "," and not quoted:
            pieces.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    pieces.append("".join(buf))
    out: dict[str, str] = {}
    for piece in pieces:
        key, sep, value = piece.partition(":")
        key, value = key.strip(), value.strip()
        if sep and _KEY_RE.match(key):
            if len(value) >= 2 and value[0] == value[-1] == '"':
                try:
                    value = json.loads(value)
                except ValueError:
                    value = value[1:-1]
            out[key] = str(value)
    return out


def _to_number(value: str | None, kind: type) -> Any:
    try:
        return kind(value) if value is not None else None
    except (TypeError, ValueError):
        return value


def parse_a1111(text: str) -> dict[str, Any]:
    """Parse an A1111 ``parameters`` block into prompt, negative prompt and settings."""
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    if lines and len(lines[-1]) <= MAX_FIELD_CHARS * 10:
        candidate = _split_settings(lines[-1])
        if len(candidate) >= 3:
            settings = candidate
            lines = lines[:-1]
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].lstrip()
        (negative if in_negative else prompt).append(line)
    if not settings and not in_negative:
        raise MetadataError("the 'parameters' text has neither a settings line (Steps: ..., Seed: ...) "
                            "nor a 'Negative prompt:' line, so it is not in AUTOMATIC1111 format")
    width = height = None
    size = settings.pop("Size", "")
    if "x" in size:
        w, _, h = size.partition("x")
        width, height = _to_number(w, int), _to_number(h, int)
    fields: dict[str, Any] = {
        "prompt": _cut("\n".join(prompt).strip()),
        "negative_prompt": _cut("\n".join(negative).strip()),
        "steps": _to_number(settings.pop("Steps", None), int),
        "sampler": settings.pop("Sampler", None),
        "scheduler": settings.pop("Schedule type", None),
        "cfg_scale": _to_number(settings.pop("CFG scale", None), float),
        "seed": _to_number(settings.pop("Seed", None), int),
        "width": width,
        "height": height,
        "model": settings.pop("Model", None),
        "model_hash": settings.pop("Model hash", None),
        "version": settings.pop("Version", None),
    }
    fields = {k: v for k, v in fields.items() if v not in (None, "")}
    if settings:
        fields["other_settings"] = {k: _cut(v) for k, v in list(settings.items())[:50]}
    return fields


def decode_user_comment(raw: bytes) -> str:
    """Decode an EXIF UserComment, honouring its 8-byte charset prefix.

    "UNICODE" is UTF-16 with no BOM; piexif (used by A1111) writes big-endian,
    other writers follow the TIFF byte order, so the byte order is inferred from
    where the zero bytes of ASCII characters fall.
    """
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\x00":
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16", "replace")
        zeros_even = body[0::2].count(0)
        zeros_odd = body[1::2].count(0)
        return body.decode("utf-16-be" if zeros_even >= zeros_odd else "utf-16-le", "replace").rstrip("\x00")
    if prefix == b"ASCII\x00\x00\x00" or prefix == b"\x00" * 8:
        return body.decode("utf-8", "replace").rstrip("\x00")
    if prefix.startswith(b"JIS"):
        return body.decode("shift_jis", "replace").rstrip("\x00")
    return raw.decode("utf-8", "replace").rstrip("\x00")


# ------------------------------------------------------------- ComfyUI --


def _load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise MetadataError(f"{what} JSON is nested too deeply to read") from None
    except ValueError as exc:
        raise MetadataError(f"{what} is not valid JSON ({exc})") from None


def _scalar(value: Any) -> Any:
    """A JSON scalar worth reporting (long strings cut), or None for lists, dicts, links."""
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, (int, float, bool)):
        return value
    return None


def _follow_text(graph: dict[str, Any], link: Any, seen: set[str] | None = None) -> list[str]:
    """Prompt texts feeding a sampler's positive/negative input (through combine nodes).

    Each node is visited once, so a hostile graph full of cycles stays linear.
    """
    seen = set() if seen is None else seen
    if not (isinstance(link, list) and link and isinstance(link[0], (str, int))) or str(link[0]) in seen:
        return []
    seen.add(str(link[0]))
    node = graph.get(str(link[0]))
    if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
        return []
    texts = [_cut(v) for k, v in node["inputs"].items()
             if k in ("text", "text_g", "text_l", "clip_l", "t5xxl", "prompt") and isinstance(v, str)]
    for v in node["inputs"].values():
        if not texts and isinstance(v, list) and len(seen) < 500:
            texts.extend(_follow_text(graph, v, seen))
    return texts


def parse_comfy_prompt(graph: Any) -> dict[str, Any]:
    """Checkpoints, LoRAs, samplers (seed, steps, cfg...), prompts and size from the API graph."""
    if not isinstance(graph, dict):
        raise MetadataError(f"ComfyUI 'prompt' should be a JSON object of nodes, got {type(graph).__name__}")
    checkpoints, loras, samplers, sizes = [], [], [], []
    for node_id, node in list(graph.items())[:5000]:
        if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
            continue
        inputs, cls = node["inputs"], str(node.get("class_type", ""))[:200]
        for key in ("ckpt_name", "unet_name"):
            if isinstance(inputs.get(key), str):
                checkpoints.append(inputs[key][:500])
        if isinstance(inputs.get("lora_name"), str):
            loras.append(inputs["lora_name"][:500])
        if "sampler_name" in inputs or "seed" in inputs or "noise_seed" in inputs:
            s = {"node": str(node_id)[:50], "class_type": cls}
            for key in ("seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "denoise"):
                if _scalar(inputs.get(key)) is not None:
                    s[key] = _scalar(inputs[key])
            if "positive" in inputs:
                s["positive_prompt"] = _follow_text(graph, inputs["positive"])
            if "negative" in inputs:
                s["negative_prompt"] = _follow_text(graph, inputs["negative"])
            samplers.append(s)
        if "Latent" in cls and isinstance(inputs.get("width"), int) and isinstance(inputs.get("height"), int):
            sizes.append([inputs["width"], inputs["height"]])
    return {"node_count": len(graph), "checkpoints": checkpoints, "loras": loras,
            "samplers": samplers[:20], "sizes": sizes[:10]}


def parse_comfy_workflow(workflow: Any) -> dict[str, Any]:
    """Node types and widget values from the UI workflow (used when ``prompt`` is missing)."""
    nodes = workflow.get("nodes") if isinstance(workflow, dict) else None
    if not isinstance(nodes, list):
        raise MetadataError("ComfyUI 'workflow' should be a JSON object with a 'nodes' list")
    types: dict[str, int] = {}
    checkpoints: list[str] = []
    seeds: list[Any] = []
    for node in nodes[:5000]:
        if not isinstance(node, dict):
            continue
        ntype = str(node.get("type", ""))[:200]
        types[ntype] = types.get(ntype, 0) + 1
        widgets = node.get("widgets_values")
        if not isinstance(widgets, list) or not widgets:
            continue
        if "CheckpointLoader" in ntype and isinstance(widgets[0], str):
            checkpoints.append(widgets[0][:500])
        if "KSampler" in ntype and isinstance(widgets[0], int):
            seeds.append(widgets[0])
    return {"node_count": len(nodes), "node_types": dict(sorted(types.items())[:100]),
            "checkpoints": checkpoints, "seeds": seeds[:20]}


# ------------------------------------------------------------- readers --


def _generated(name: str, generator: str, fields: dict[str, Any], why: str) -> Evidence:
    return Evidence(
        source="params", name=name, direction="generated", strength=0.95, reliability=REL_DECLARED_GENERATED,
        details={"generator": generator, **fields},
        explanation=f"The file contains {why}, which {generator} writes into the images it makes. Cameras never "
        "write this. It is not signed, though, and a simple re-save removes it.")


def _failed(name: str, error: str, what: str) -> Evidence:
    return Evidence(
        source="params", name=name, error=error,
        explanation=f"The file has {what}, but it could not be read: {error}. Other metadata was still checked.")


def read_params(ext: Extracted) -> list[Evidence]:
    """All generator-parameter evidence in the file (or one 'absent' item)."""
    out: list[Evidence] = []
    texts, errs = ext.texts, ext.text_errors
    exif: dict[str, Any] = {}
    if ext.exif is not None:
        try:
            exif = parse_exif(ext.exif)
        except MetadataError:
            exif = {}  # reported by the EXIF reader
    # AUTOMATIC1111: PNG 'parameters' or EXIF UserComment
    a1111_text, where = texts.get("parameters"), "a 'parameters' text chunk"
    if a1111_text is None and isinstance(exif.get("user_comment"), bytes):
        a1111_text, where = decode_user_comment(exif["user_comment"]), "an EXIF UserComment"
    if "parameters" in errs:
        out.append(_failed("a1111_parameters", errs["parameters"], "an AUTOMATIC1111 'parameters' chunk"))
    elif a1111_text:
        try:
            out.append(_generated("a1111_parameters", "Stable Diffusion web UI (AUTOMATIC1111 format)",
                                  parse_a1111(a1111_text), f"Stable Diffusion generation settings in {where}"))
        except MetadataError as exc:
            if where.startswith("a 'parameters'"):
                out.append(_failed("a1111_parameters", str(exc), "a 'parameters' chunk"))
    # ComfyUI
    comfy: dict[str, Any] = {}
    for key, parser in (("prompt", parse_comfy_prompt), ("workflow", parse_comfy_workflow)):
        if key in errs:
            out.append(_failed("comfyui_workflow", errs[key], f"a ComfyUI '{key}' chunk"))
        elif key in texts:
            try:
                comfy[key] = parser(_load_json(texts[key], f"ComfyUI '{key}'"))
            except MetadataError as exc:
                out.append(_failed("comfyui_workflow", str(exc), f"a ComfyUI '{key}' chunk"))
    if comfy:
        out.append(_generated("comfyui_workflow", "ComfyUI", comfy, "a ComfyUI node graph"))
    out.extend(_novelai(texts, errs))
    out.extend(_midjourney(ext, texts, exif))
    if not out:
        out.append(Evidence(
            source="params", name="generator_parameters",
            explanation="No generator parameters (AUTOMATIC1111, ComfyUI, NovelAI, Midjourney) in the file. "
            "Most generators and all sharing sites can omit or strip them, so this absence proves nothing."))
    return out


def _novelai(texts: dict[str, str], errs: dict[str, str]) -> list[Evidence]:
    software, source = texts.get("Software", ""), texts.get("Source", "")
    if "novelai" not in (software + source).lower():
        return []
    fields: dict[str, Any] = {"software": software[:200], "model": source[:200]}
    if "Description" in texts:
        fields["prompt"] = _cut(texts["Description"])
    if "Comment" in errs:
        return [_failed("novelai_metadata", errs["Comment"], "a NovelAI 'Comment' chunk")]
    if "Comment" in texts:
        try:
            comment = _load_json(texts["Comment"], "NovelAI 'Comment'")
        except MetadataError as exc:
            return [_failed("novelai_metadata", str(exc), "a NovelAI 'Comment' chunk")]
        if isinstance(comment, dict):
            for src, dst in (("prompt", "prompt"), ("uc", "negative_prompt"), ("steps", "steps"),
                             ("scale", "cfg_scale"), ("seed", "seed"), ("sampler", "sampler"),
                             ("width", "width"), ("height", "height"), ("noise_schedule", "scheduler")):
                if _scalar(comment.get(src)) is not None:
                    fields[dst] = _scalar(comment[src])
    return [_generated("novelai_metadata", "NovelAI", fields, "NovelAI generation metadata")]


def _midjourney(ext: Extracted, texts: dict[str, str], exif: dict[str, Any]) -> list[Evidence]:
    candidates = [texts.get("Description"), exif.get("description")]
    for packet in ext.xmp:
        try:
            candidates.extend(parse_xmp(packet).get((NS_DC, "description"), []))
        except MetadataError:
            continue  # reported by the XMP reader
    for text in candidates:
        match = _JOB_RE.search(text or "")
        if not match:
            continue
        prompt = text[: match.start()].strip()
        flags = {k: v or True for k, v in _MJ_FLAG_RE.findall(prompt[-2000:])}
        fields = {"job_id": match.group(1), "prompt": _cut(prompt), "flags": dict(list(flags.items())[:30])}
        return [_generated("midjourney_description", "Midjourney", fields,
                           "a prompt with a Midjourney job id in its description")]
    return []
