"""Generation parameters that generator front-ends write into the file.

AUTOMATIC1111 (and Forge, SD.Next, Fooocus in A1111 mode) write a PNG text chunk
``parameters`` or, for JPEG/WebP, an EXIF UserComment; ComfyUI writes its graph
as ``prompt`` (API form) and ``workflow`` (UI form) JSON chunks; NovelAI writes
``Software``/``Source``/``Description``/``Comment``; Midjourney puts the prompt and
a ``Job ID`` in the description. InvokeAI, Fooocus, SwarmUI, Easy Diffusion, Draw
Things, ComfyUI's WebP EXIF form and stealth PNG info are parsed in
``generators.py`` and ``stealth.py``. Every block becomes one normalised
``GenerationParams`` record (``details["parameters"]``, with the stored text in
``details["raw"]``) beside the reader's own fields.

Such a block is strong evidence *if present* -- cameras never write it -- but it
is unsigned and one re-save removes it, hence the moderate reliability.
"""

from __future__ import annotations

import json
import re
from typing import Any

from synthtrace.provenance.generators import (
    a1111_tool,
    comfy_exif_fields,
    from_a1111_fields,
    is_easy_diffusion,
    load_json,
    parse_draw_things,
    parse_dream,
    parse_easy_diffusion,
    parse_fooocus_json,
    parse_invokeai_graph,
    parse_invokeai_metadata,
    parse_sd_metadata,
    parse_swarmui,
)
from synthtrace.provenance.metadata import (
    NS_DC,
    NS_EXIF,
    NS_XMP,
    REL_DECLARED_GENERATED,
    Extracted,
    MetadataError,
    parse_exif,
    parse_xmp,
)
from synthtrace.provenance.record import GenerationParams, make_params
from synthtrace.provenance.stealth import read_stealth_payload
from synthtrace.records import Evidence

MAX_FIELD_CHARS = 10_000  # prompts longer than this are cut in the report
KNOWN_KEYS = frozenset({"parameters", "prompt", "workflow", "Comment", "Description", "Software", "Source",
                        "fooocus_scheme", "Dream", "sd-metadata", "invokeai_metadata", "invokeai_graph",
                        "invokeai_workflow", "negative_prompt", "use_stable_diffusion_model"})
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


def _generated(name: str, generator: str, fields: dict[str, Any], why: str,
               record: GenerationParams | None = None) -> Evidence:
    details: dict[str, Any] = {"generator": generator, **fields}
    if record is not None:
        details.update(tool=record.tool, source_format=record.source_format, parameters=record.to_dict(),
                       raw=record.raw)
    return Evidence(
        source="params", name=name, direction="generated", strength=0.95, reliability=REL_DECLARED_GENERATED,
        details=details,
        explanation=f"The file contains {why}, which {generator} writes into the images it makes. Cameras never "
        "write this. It is not signed, though, and a simple re-save removes it.")


def _from_record(name: str, record: GenerationParams, why: str, **extra: Any) -> Evidence:
    return _generated(name, record.tool, extra, why, record)


def _failed(name: str, error: str, what: str) -> Evidence:
    return Evidence(
        source="params", name=name, error=error,
        explanation=f"The file has {what}, but it could not be read: {error}. Other metadata was still checked.")


def comfy_record(comfy: dict[str, Any], raw: str, source_format: str) -> GenerationParams:
    """The normalised record of a parsed ComfyUI graph (first sampler, first checkpoint)."""
    prompt = comfy.get("prompt") or {}
    workflow = comfy.get("workflow") or {}
    samplers = prompt.get("samplers") or [{}]
    first = samplers[0]
    checkpoints = prompt.get("checkpoints") or workflow.get("checkpoints") or []
    size = (prompt.get("sizes") or [[None, None]])[0]
    seeds = workflow.get("seeds") or [None]
    unknown = {"node_count": prompt.get("node_count", workflow.get("node_count")), "samplers": samplers[1:],
               "checkpoints": checkpoints[1:], "node_types": workflow.get("node_types")}
    return make_params(
        "ComfyUI", source_format, raw, model=checkpoints[0] if checkpoints else None,
        loras=[{"name": n} for n in prompt.get("loras") or []],
        seed=first.get("seed", first.get("noise_seed", seeds[0])), steps=first.get("steps"),
        cfg_scale=first.get("cfg"), sampler=first.get("sampler_name"), scheduler=first.get("scheduler"),
        prompt="\n".join(first.get("positive_prompt") or []), negative_prompt="\n".join(first.get("negative_prompt") or []),
        width=size[0], height=size[1], unknown={k: v for k, v in unknown.items() if v})


def _xmp_props(ext: Extracted) -> list[dict[tuple[str, str], list[str]]]:
    props = []
    for packet in ext.xmp:
        try:
            props.append(parse_xmp(packet))
        except MetadataError:
            continue  # reported by the XMP reader
    return props


def read_params(ext: Extracted, *, data: bytes | None = None) -> list[Evidence]:
    """All generator-parameter evidence in the file (or one 'absent' item).

    ``data`` (the file's bytes) lets the reader look for parameters hidden in
    the pixels of a PNG (stealth PNG info); without it only metadata is read.
    """
    out: list[Evidence] = []
    texts, errs = ext.texts, ext.text_errors
    exif: dict[str, Any] = {}
    if ext.exif is not None:
        try:
            exif = parse_exif(ext.exif, limit=None)
        except MetadataError:
            exif = {}  # reported by the EXIF reader
    comments = {k: decode_user_comment(exif[k]) for k in ("user_comment", "ifd0_user_comment")
                if isinstance(exif.get(k), bytes)}
    xmps = _xmp_props(ext)
    easy = is_easy_diffusion(texts)
    out.extend(_parameters_block(texts, errs, exif, comments))
    out.extend(_invokeai(texts, errs))
    out.extend(_comfyui(texts, errs, exif, comments, skip_prompt=easy))
    if easy:
        out.append(_from_record("easy_diffusion_metadata", parse_easy_diffusion(dict(texts)),
                                "Easy Diffusion's settings in PNG text chunks"))
    out.extend(_novelai(texts, errs))
    out.extend(_midjourney(texts, exif, xmps))
    out.extend(_draw_things(xmps))
    if data is not None and ext.format == "png":
        out.extend(_stealth(data))
    if not out:
        out.append(Evidence(
            source="params", name="generator_parameters",
            explanation="No generator parameters (AUTOMATIC1111/Forge, ComfyUI, InvokeAI, Fooocus, SwarmUI, Easy "
            "Diffusion, Draw Things, NovelAI, Midjourney, stealth PNG info) in the file. Most generators and all "
            "sharing sites can omit or strip them, so this absence proves nothing."))
    return out


def _parameters_block(texts: dict[str, str], errs: dict[str, str], exif: dict[str, Any],
                      comments: dict[str, str]) -> list[Evidence]:
    """The A1111-family ``parameters`` text or its EXIF UserComment: A1111/Forge, Fooocus, SwarmUI, Easy Diffusion."""
    if "parameters" in errs:
        return [_failed("a1111_parameters", errs["parameters"], "an AUTOMATIC1111 'parameters' chunk")]
    scheme = str(texts.get("fooocus_scheme") or exif.get("ifd0_maker_note") or "").strip().lower()
    software = str(exif.get("software") or "")
    fooocus = scheme in ("fooocus", "a1111") and ("fooocus_scheme" in texts or software.startswith("Fooocus"))
    candidates = [(texts.get("parameters"), "a 'parameters' text chunk", True),
                  (comments.get("ifd0_user_comment"), "an EXIF UserComment", False),
                  (comments.get("user_comment"), "an EXIF UserComment", False)]
    for text, where, from_chunk in candidates:
        if not text or not text.strip():
            continue
        if text.lstrip().startswith("{"):
            try:
                value = load_json(text, "the 'parameters' text" if from_chunk else "the EXIF UserComment")
                ev = _json_parameters(value, where, fooocus)
            except MetadataError as exc:
                ev = _failed("generator_parameters", str(exc), f"generation settings in {where}") if from_chunk else None
            if ev is not None:
                return [ev]
            if from_chunk:
                return [_failed("generator_parameters", "the JSON in the 'parameters' text is not in a format "
                                "synthtrace knows (Fooocus, SwarmUI, Easy Diffusion)", "a 'parameters' chunk")]
            continue
        try:
            fields = parse_a1111(text)
        except MetadataError as exc:
            if from_chunk:
                return [_failed("a1111_parameters", str(exc), "a 'parameters' chunk")]
            continue  # a UserComment in plain words is a caption, not parameters
        tool = "Fooocus" if fooocus else a1111_tool(fields.get("version"), (fields.get("other_settings") or {}).get("App"))
        name = "fooocus_parameters" if tool == "Fooocus" else "a1111_parameters"
        fmt = "AUTOMATIC1111 text" + (" (Fooocus a1111 scheme)" if tool == "Fooocus" else "")
        record = from_a1111_fields(fields, text, tool, f"{fmt} in {where}")
        display = tool if tool != "AUTOMATIC1111 Stable Diffusion web UI" else "Stable Diffusion web UI (AUTOMATIC1111 format)"
        return [_generated(name, display, fields, f"Stable Diffusion generation settings in {where}", record)]
    return []


def _json_parameters(value: Any, where: str, fooocus: bool) -> Evidence | None:
    """Evidence for a JSON ``parameters`` block, or None when no known writer matches it."""
    if not isinstance(value, dict):
        return None
    if "sui_image_params" in value:
        return _from_record("swarmui_parameters", parse_swarmui(value), f"SwarmUI's generation settings in {where}")
    if is_easy_diffusion(value):
        return _from_record("easy_diffusion_metadata", parse_easy_diffusion(value),
                            f"Easy Diffusion's settings in {where}")
    version = str(value.get("version") or "")
    if fooocus or version.startswith("Fooocus") or {"full_prompt", "base_model"} <= value.keys():
        return _from_record("fooocus_parameters", parse_fooocus_json(value), f"Fooocus's generation settings in {where}")
    return None


INVOKE_PARSERS = (("invokeai_metadata", parse_invokeai_metadata), ("sd-metadata", parse_sd_metadata),
                  ("Dream", parse_dream), ("invokeai_graph", parse_invokeai_graph),
                  ("invokeai_workflow", lambda v: parse_invokeai_graph(v, "invokeai_workflow")))


def _invokeai(texts: dict[str, str], errs: dict[str, str]) -> list[Evidence]:
    """InvokeAI, all versions: the richest chunk present makes the record; the others are listed."""
    present = [k for k, _ in INVOKE_PARSERS if k in texts or k in errs]
    if not present:
        return []
    failures: list[Evidence] = []
    for key, parser in INVOKE_PARSERS:
        if key in errs:
            failures.append(_failed("invokeai_metadata", errs[key], f"an InvokeAI '{key}' chunk"))
            continue
        if key not in texts:
            continue
        try:
            record = parser(texts[key] if key == "Dream" else load_json(texts[key], f"InvokeAI '{key}'"))
        except MetadataError as exc:
            failures.append(_failed("invokeai_metadata", str(exc), f"an InvokeAI '{key}' chunk"))
            continue
        return [_from_record("invokeai_metadata", record, f"InvokeAI's '{key}' generation metadata",
                             chunks=present)] + failures
    return failures


def _comfyui(texts: dict[str, str], errs: dict[str, str], exif: dict[str, Any], comments: dict[str, str],
             *, skip_prompt: bool) -> list[Evidence]:
    out: list[Evidence] = []
    comfy: dict[str, Any] = {}
    raw: list[str] = []
    for key, parser in (("prompt", parse_comfy_prompt), ("workflow", parse_comfy_workflow)):
        if key == "prompt" and skip_prompt:
            continue  # Easy Diffusion's plain-text 'prompt' chunk, read by its own reader
        if key in errs:
            out.append(_failed("comfyui_workflow", errs[key], f"a ComfyUI '{key}' chunk"))
        elif key in texts:
            try:
                comfy[key] = parser(load_json(texts[key], f"ComfyUI '{key}'"))
                raw.append(f"{key}: {texts[key]}")
            except MetadataError as exc:
                out.append(_failed("comfyui_workflow", str(exc), f"a ComfyUI '{key}' chunk"))
    where = "a ComfyUI node graph"
    if not comfy:  # ComfyUI's WebP savers: "prompt:{...}" in Model, "workflow:{...}" in Make, ...
        fields = {k: exif[k] for k in ("make", "model", "description", "document_name", "artist", "copyright")
                  if isinstance(exif.get(k), str)} | comments
        graphs, used = comfy_exif_fields(fields)
        for key, parser in (("prompt", parse_comfy_prompt), ("workflow", parse_comfy_workflow)):
            if key in graphs:
                try:
                    comfy[key] = parser(graphs[key])
                except MetadataError as exc:
                    out.append(_failed("comfyui_workflow", str(exc), f"a ComfyUI '{key}' graph in EXIF"))
        if comfy or graphs:
            names = {"make": "Make", "model": "Model", "description": "ImageDescription", "document_name":
                     "DocumentName", "artist": "Artist", "copyright": "Copyright", "user_comment": "UserComment",
                     "ifd0_user_comment": "UserComment"}
            comfy.setdefault("exif_fields", sorted({names.get(u, u) for u in used}))
            comfy.setdefault("extra_keys", sorted(k for k in graphs if k not in ("prompt", "workflow"))[:20])
            raw = [f"{names.get(u, u)}: {fields[u]}" for u in used]
            where = f"a ComfyUI node graph in the EXIF {', '.join(comfy['exif_fields'])} field(s)"
    if comfy:
        record = comfy_record(comfy, "\n".join(raw), "EXIF (WebP saver)" if "exif_fields" in comfy else "PNG text")
        out.append(_generated("comfyui_workflow", "ComfyUI", comfy, where, record))
    return out


def _novelai(texts: dict[str, str], errs: dict[str, str]) -> list[Evidence]:
    software, source = texts.get("Software", ""), texts.get("Source", "")
    if "novelai" not in (software + source).lower():
        return []
    if "Comment" in errs:
        return [_failed("novelai_metadata", errs["Comment"], "a NovelAI 'Comment' chunk")]
    try:
        fields, record = novelai_fields(texts, "PNG text")
    except MetadataError as exc:
        return [_failed("novelai_metadata", str(exc), "a NovelAI 'Comment' chunk")]
    return [_generated("novelai_metadata", "NovelAI", fields, "NovelAI generation metadata", record)]


def novelai_fields(texts: dict[str, Any], where: str) -> tuple[dict[str, Any], GenerationParams]:
    """NovelAI's Software/Source/Description/Comment as legacy fields and the normalised record."""
    software, source = str(texts.get("Software", "")), str(texts.get("Source", ""))
    fields: dict[str, Any] = {"software": software[:200], "model": source[:200]}
    if isinstance(texts.get("Description"), str):
        fields["prompt"] = _cut(texts["Description"])
    comment: Any = texts.get("Comment")
    if isinstance(comment, str):
        comment = load_json(comment, "NovelAI 'Comment'")
    unknown: dict[str, Any] = {}
    if isinstance(comment, dict):
        for src, dst in (("prompt", "prompt"), ("uc", "negative_prompt"), ("steps", "steps"),
                         ("scale", "cfg_scale"), ("seed", "seed"), ("sampler", "sampler"),
                         ("width", "width"), ("height", "height"), ("noise_schedule", "scheduler")):
            if _scalar(comment.get(src)) is not None:
                fields[dst] = _scalar(comment[src])
        unknown = {k: v for k, v in comment.items() if k not in ("prompt", "uc", "steps", "scale", "seed", "sampler",
                                                                  "width", "height", "noise_schedule")}
    record = make_params("NovelAI", f"NovelAI metadata ({where})", json.dumps(texts, default=str),
                         tool_version=None, model=source,
                         **{k: fields.get(k) for k in ("prompt", "negative_prompt", "steps", "cfg_scale", "seed",
                                                       "sampler", "width", "height", "scheduler")},
                         unknown=unknown)
    return fields, record


def _midjourney(texts: dict[str, str], exif: dict[str, Any], xmps: list[Any]) -> list[Evidence]:
    candidates = [texts.get("Description"), exif.get("description")]
    for props in xmps:
        candidates.extend(props.get((NS_DC, "description"), []))
    for text in candidates:
        if not isinstance(text, str):
            continue
        match = _JOB_RE.search(text[:MAX_FIELD_CHARS * 2])
        if not match:
            continue
        prompt = text[: match.start()].strip()
        flags = {k: v or True for k, v in _MJ_FLAG_RE.findall(prompt[-2000:])}
        fields = {"job_id": match.group(1), "prompt": _cut(prompt), "flags": dict(list(flags.items())[:30])}
        plain = re.sub(r"\s--\w+(?:\s+[^\s-][^\s]*)?", "", prompt).strip()
        version = flags.get("v") or flags.get("version") or flags.get("niji")
        record = make_params("Midjourney", "description with Job ID", text, prompt=plain,
                             tool_version=version if isinstance(version, str) else None,
                             unknown={"job_id": match.group(1), "flags": fields["flags"],
                                      **({"author": texts["Author"]} if "Author" in texts else {})})
        return [_generated("midjourney_description", "Midjourney", fields,
                           "a prompt with a Midjourney job id in its description", record)]
    return []


def _draw_things(xmps: list[Any]) -> list[Evidence]:
    for props in xmps:
        tool = " ".join(props.get((NS_XMP, "CreatorTool"), []))
        comments = props.get((NS_EXIF, "UserComment"), [])
        if "draw things" not in tool.lower():
            continue
        description = next(iter(props.get((NS_DC, "description"), [])), None)
        for text in comments:
            if not text.lstrip().startswith("{"):
                continue
            try:
                record = parse_draw_things(load_json(text, "Draw Things' UserComment"), description)
            except MetadataError as exc:
                return [_failed("draw_things_metadata", str(exc), "Draw Things' XMP UserComment")]
            return [_from_record("draw_things_metadata", record, "Draw Things' generation settings in its XMP")]
        record = make_params("Draw Things", "XMP CreatorTool", description or tool, prompt=description)
        return [_from_record("draw_things_metadata", record, "XMP naming Draw Things as the creator tool")]
    return []


def _stealth(data: bytes) -> list[Evidence]:
    try:
        found = read_stealth_payload(data)
    except MetadataError as exc:
        return [_failed("stealth_parameters", str(exc), "a stealth PNG info signature in its pixels")]
    if found is None:
        return []
    signature, payload = found
    why = f"generation settings hidden in the pixels' low bits ({signature})"
    extra = {"signature": signature}
    value: Any = None
    if payload.lstrip().startswith("{"):
        try:
            value = load_json(payload, f"the {signature} payload")
        except MetadataError:
            value = None
    if isinstance(value, dict):
        if "novelai" in f"{value.get('Software', '')}{value.get('Source', '')}".lower():
            try:
                fields, record = novelai_fields(value, signature)
            except MetadataError as exc:
                return [_failed("stealth_parameters", str(exc), f"NovelAI metadata in {signature}")]
            return [_generated("stealth_parameters", "NovelAI", {**fields, **extra}, why, record)]
        if "sui_image_params" in value:
            return [_from_record("stealth_parameters", parse_swarmui(value), why, **extra)]
        if isinstance(value.get("prompt"), str) and value["prompt"].lstrip().startswith("{"):
            try:
                comfy = {"prompt": parse_comfy_prompt(load_json(value["prompt"], "ComfyUI 'prompt'"))}
            except MetadataError as exc:
                return [_failed("stealth_parameters", str(exc), f"a ComfyUI graph in {signature}")]
            return [_generated("stealth_parameters", "ComfyUI", {**comfy, **extra}, why,
                               comfy_record(comfy, payload, signature))]
    try:
        fields = parse_a1111(payload)
    except MetadataError:
        record = make_params("AUTOMATIC1111 / Forge (stealth PNG info)", signature, payload)
        return [_from_record("stealth_parameters", record, why, **extra)]
    tool = a1111_tool(fields.get("version"), (fields.get("other_settings") or {}).get("App"))
    return [_generated("stealth_parameters", tool, {**fields, **extra}, why,
                       from_a1111_fields(fields, payload, tool, signature))]
