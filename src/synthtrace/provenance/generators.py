"""Parsers for the parameter formats of InvokeAI, Fooocus, SwarmUI, Easy Diffusion,
Draw Things and ComfyUI's EXIF form, each mapped onto ``GenerationParams``.

The formats were learned from the writers' own public code:

- InvokeAI 1.x/2.x (``ldm/invoke/pngwriter.py``): a ``Dream`` text chunk holding
  the command line (``"prompt [negative]" -s 50 -S 42 -W 512 -H 768 -C 7.5 -A
  k_lms``) and, from 2.x, an ``sd-metadata`` JSON chunk (``model_weights``,
  ``model_hash``, ``app_id``, ``app_version``, ``image: {prompt, steps,
  cfg_scale, seed, width, height, sampler, ...}``).
- InvokeAI 3.x and later (``image_files_disk.py``): ``invokeai_metadata`` JSON
  (``positive_prompt``, ``negative_prompt``, ``model: {name|model_name, hash,
  base}``, ``loras: [{model|lora: {...}, weight}]``, ``app_version``...), with
  ``invokeai_graph`` / ``invokeai_workflow`` beside it.
- Fooocus (``modules/meta_parser.py``, ``modules/private_logger.py``): PNG
  ``parameters`` plus ``fooocus_scheme`` ("fooocus": sorted JSON; "a1111": the
  AUTOMATIC1111 text with ``Version: Fooocus v...``); JPEG/WebP put the same text
  in IFD0 UserComment (0x9286), the scheme in MakerNote (0x927C) and
  ``Fooocus v<version>`` in Software.
- SwarmUI (``src/Utils/Image.cs``): PNG ``parameters`` JSON with
  ``sui_image_params`` (``prompt``, ``negativeprompt``, ``model``, ``seed``,
  ``cfgscale``, ``swarm_version``...), ``sui_extra_data`` and ``sui_models``;
  EXIF UserComment for JPEG/WebP.
- Easy Diffusion (``ui/easydiffusion/utils/save_utils.py`` and sdkit's
  ``save_dicts``): one PNG text chunk per setting (``prompt``,
  ``use_stable_diffusion_model``, ``num_inference_steps``, ``guidance_scale``...,
  or their display labels), or the same dict as JSON in a UNICODE UserComment.
- ComfyUI's WebP / animated WebP savers (``comfy_extras/nodes_images.py``):
  ``"prompt:" + JSON`` in EXIF Model (0x0110) and each extra field, starting
  with ``"workflow:" + JSON``, in Make (0x010F), ImageDescription (0x010E) and
  downwards; some custom savers use UserComment or Copyright.
- Draw Things (closed source; its documented XMP structure): ``xmp:CreatorTool``
  "Draw Things", ``exif:UserComment`` holding JSON (``c`` prompt, ``uc`` negative
  prompt, ``seed``, ``steps``, ``scale``, ``sampler``, ``model``, ``size``,
  ``lora``) and an A1111-like ``dc:description``.

Every parser takes already-extracted text or JSON, never raises anything but
``MetadataError`` and bounds the work it does on hostile input.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from synthtrace.provenance.metadata import MetadataError
from synthtrace.provenance.record import GenerationParams, as_float, as_int, as_text, cut, make_params

MAX_JSON_CHARS = 1 << 20


def load_json(text: str, what: str) -> Any:
    """JSON from ``text``; a MetadataError naming ``what`` when it is not JSON."""
    if len(text) > MAX_JSON_CHARS:
        raise MetadataError(f"{what} is {len(text)} characters, over the {MAX_JSON_CHARS}-character limit")
    try:
        return json.loads(text)
    except RecursionError:
        raise MetadataError(f"{what} JSON is nested too deeply to read") from None
    except ValueError as exc:
        raise MetadataError(f"{what} is not valid JSON ({exc})") from None


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MetadataError(f"{what} should be a JSON object, got {type(value).__name__}")
    return value


def _rest(data: dict[str, Any], used: set[str]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in used}


def _split_size(text: Any) -> tuple[int | None, int | None]:
    """(width, height) from "832x1216", "(768, 1280)" or "768, 1280"."""
    if not isinstance(text, str) or len(text) > 40:
        return None, None
    nums = re.findall(r"\d+", text)
    return (int(nums[0]), int(nums[1])) if len(nums) == 2 else (None, None)


# ------------------------------------------------------------- InvokeAI --

_DREAM_OPTS = {"-s": "steps", "--steps": "steps", "-S": "seed", "--seed": "seed", "-W": "width",
               "--width": "width", "-H": "height", "--height": "height", "-C": "cfg_scale",
               "--cfg_scale": "cfg_scale", "-A": "sampler", "--sampler": "sampler", "-m": "model",
               "--model": "model"}


def split_invoke_prompt(prompt: str) -> tuple[str, str]:
    """InvokeAI 1.x/2.x keep the negative prompt inside the prompt as ``[bracketed]`` text."""
    negatives = re.findall(r"\[([^\[\]]*)\]", prompt[:MAX_JSON_CHARS])
    positive = re.sub(r"\s*\[[^\[\]]*\]", "", prompt[:MAX_JSON_CHARS]).strip()
    return positive, ", ".join(n.strip() for n in negatives if n.strip())


def parse_dream(text: str) -> GenerationParams:
    """InvokeAI 1.x ``Dream`` chunk: a quoted prompt followed by command-line switches."""
    body = text.strip()
    if not body.startswith('"'):
        raise MetadataError("the 'Dream' text does not start with a quoted prompt, so it is not InvokeAI's format")
    end = body.rfind('"')
    if end <= 0:
        raise MetadataError("the 'Dream' text has an unterminated quoted prompt")
    prompt, switches = body[1:end], body[end + 1 :].split()
    if switches and not switches[0].startswith("-"):
        raise MetadataError("the 'Dream' text has words after the prompt that are not switches")
    values: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    key, args = None, []
    for token in [*switches[:400], "-"]:
        if token.startswith("-") and as_float(token) is None:  # a switch (not a negative number)
            if key is not None:
                value = " ".join(args) if args else True
                if key in _DREAM_OPTS and args:
                    values[_DREAM_OPTS[key]] = value
                else:
                    unknown[key] = value
            key, args = token, []
        else:
            args.append(token)
    positive, negative = split_invoke_prompt(prompt)
    return make_params("InvokeAI", "Dream (InvokeAI 1.x)", text, prompt=positive, negative_prompt=negative,
                       unknown=unknown, **values)


def parse_sd_metadata(data: Any) -> GenerationParams:
    """InvokeAI 2.x ``sd-metadata`` JSON."""
    data = _obj(data, "InvokeAI 'sd-metadata'")
    image = data.get("image") if isinstance(data.get("image"), dict) else {}
    prompt = image.get("prompt")
    if isinstance(prompt, list):  # [{"prompt": ..., "weight": ...}, ...]
        prompt = " ".join(str(p.get("prompt", "")) for p in prompt[:20] if isinstance(p, dict))
    positive, negative = split_invoke_prompt(prompt) if isinstance(prompt, str) else (None, None)
    used_top = {"model_weights", "model_hash", "app_version", "image"}
    used_img = {"prompt", "steps", "cfg_scale", "seed", "width", "height", "sampler"}
    unknown = _rest(data, used_top) | {f"image.{k}": v for k, v in _rest(image, used_img).items()}
    return make_params(
        "InvokeAI", "sd-metadata (InvokeAI 2.x)", json.dumps(data)[:MAX_JSON_CHARS],
        tool_version=data.get("app_version"), model=data.get("model_weights"), model_hash=data.get("model_hash"),
        prompt=positive, negative_prompt=negative, steps=image.get("steps"), cfg_scale=image.get("cfg_scale"),
        seed=image.get("seed"), width=image.get("width"), height=image.get("height"), sampler=image.get("sampler"),
        unknown=unknown)


def _model_ref(value: Any) -> tuple[str | None, str | None]:
    """(name, hash) of an InvokeAI model reference (3.x ``model_name``, 4.x+ ``name``/``hash``)."""
    if isinstance(value, str):
        return value, None
    if not isinstance(value, dict):
        return None, None
    name = value.get("name") or value.get("model_name") or value.get("key")
    return as_text(name, 500), as_text(value.get("hash"), 200)


def parse_invokeai_metadata(data: Any) -> GenerationParams:
    """InvokeAI 3.x+ ``invokeai_metadata`` JSON (the core metadata of the image)."""
    data = _obj(data, "InvokeAI 'invokeai_metadata'")
    model, model_hash = _model_ref(data.get("model"))
    loras = []
    for item in (data.get("loras") if isinstance(data.get("loras"), list) else [])[:50]:
        if isinstance(item, dict):
            name, digest = _model_ref(item.get("model") or item.get("lora"))
            loras.append({"name": name, "weight": item.get("weight"), "hash": digest})
    used = {"positive_prompt", "negative_prompt", "model", "loras", "seed", "steps", "cfg_scale", "scheduler",
            "width", "height", "app_version"}
    return make_params(
        "InvokeAI", "invokeai_metadata (InvokeAI 3.x+)", json.dumps(data)[:MAX_JSON_CHARS],
        tool_version=data.get("app_version"), model=model, model_hash=model_hash, loras=loras,
        prompt=data.get("positive_prompt"), negative_prompt=data.get("negative_prompt"), seed=data.get("seed"),
        steps=data.get("steps"), cfg_scale=data.get("cfg_scale"), scheduler=data.get("scheduler"),
        width=data.get("width"), height=data.get("height"), unknown=_rest(data, used))


def parse_invokeai_graph(data: Any, key: str = "invokeai_graph") -> GenerationParams:
    """Seed, steps, model and prompts from an InvokeAI node graph (used when there is no metadata chunk)."""
    data = _obj(data, f"InvokeAI '{key}'")
    nodes = data.get("nodes")
    if isinstance(nodes, dict):
        nodes = list(nodes.values())
    if not isinstance(nodes, list):
        raise MetadataError(f"InvokeAI '{key}' has no 'nodes'")
    found: dict[str, Any] = {}
    types: dict[str, int] = {}
    for node in nodes[:2000]:
        if isinstance(node, dict) and isinstance(node.get("data"), dict):  # the workflow form wraps node data
            inner = node["data"]
            inputs = inner.get("inputs") if isinstance(inner.get("inputs"), dict) else {}
            node = {**inner, **{k: (v.get("value") if isinstance(v, dict) else v) for k, v in list(inputs.items())[:100]}}
        if not isinstance(node, dict):
            continue
        ntype = str(node.get("type", ""))[:100]
        types[ntype] = types.get(ntype, 0) + 1
        for src, dst in (("seed", "seed"), ("steps", "steps"), ("cfg_scale", "cfg_scale"), ("scheduler", "scheduler"),
                         ("width", "width"), ("height", "height")):
            if src in node and dst not in found and as_text(node[src]) is not None:
                found[dst] = node[src]
        if "model" in node and "model" not in found:
            name, digest = _model_ref(node["model"])
            if name:
                found["model"], found["model_hash"] = name, digest
        if isinstance(node.get("prompt"), str):
            target = "negative_prompt" if "neg" in str(node.get("id", "")).lower() else "prompt"
            found.setdefault(target, node["prompt"])
    return make_params("InvokeAI", f"{key} (InvokeAI 3.x+)", json.dumps(data)[:MAX_JSON_CHARS],
                       unknown={"node_count": len(nodes), "node_types": dict(sorted(types.items())[:50])}, **found)


# ------------------------------------------------------------- Fooocus --


def _fooocus_loras(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in (data.get("loras") if isinstance(data.get("loras"), list) else [])[:50]:
        if isinstance(item, (list, tuple)) and item:
            out.append({"name": item[0], "weight": item[1] if len(item) > 1 else None,
                        "hash": item[2] if len(item) > 2 else None})
    for key, value in list(data.items())[:200]:
        if str(key).startswith("lora_combined_") and isinstance(value, str) and " : " in value:
            name, _, weight = value.rpartition(" : ")
            out.append({"name": name, "weight": weight})
    return out


def parse_fooocus_json(data: Any) -> GenerationParams:
    """Fooocus's own scheme: one sorted JSON object."""
    data = _obj(data, "Fooocus 'parameters'")
    full, full_neg = data.get("full_prompt"), data.get("full_negative_prompt")
    prompt = ", ".join(str(p) for p in full[:50]) if isinstance(full, list) and full else data.get("prompt")
    negative = (", ".join(str(p) for p in full_neg[:50]) if isinstance(full_neg, list) and full_neg
                else data.get("negative_prompt"))
    width, height = _split_size(data.get("resolution"))
    version = as_text(data.get("version"), 100)
    used = {"full_prompt", "full_negative_prompt", "base_model", "base_model_hash", "loras", "resolution", "seed",
            "steps", "guidance_scale", "sampler", "scheduler", "version"}
    unknown = {k: v for k, v in _rest(data, used).items() if not str(k).startswith("lora_combined_")}
    return make_params(
        "Fooocus", "fooocus scheme (JSON)", json.dumps(data)[:MAX_JSON_CHARS],
        tool_version=version.removeprefix("Fooocus ").removeprefix("v") if version else None,
        model=data.get("base_model"), model_hash=data.get("base_model_hash"), loras=_fooocus_loras(data),
        prompt=prompt, negative_prompt=negative, seed=data.get("seed"), steps=data.get("steps"),
        cfg_scale=data.get("guidance_scale"), sampler=data.get("sampler"), scheduler=data.get("scheduler"),
        width=width, height=height, unknown=unknown)


def lora_pairs(text: Any) -> list[dict[str, Any]]:
    """``"name: value, name: value"`` (A1111 ``Lora hashes`` / Fooocus ``Lora weights``) as LoRA dicts."""
    if not isinstance(text, str):
        return []
    out = []
    for part in text.split(",")[:50]:
        name, sep, value = part.rpartition(":")
        if sep and name.strip():
            out.append({"name": name.strip(), "value": value.strip()})
    return out


def from_a1111_fields(fields: dict[str, Any], raw: str, tool: str, source_format: str) -> GenerationParams:
    """The normalised record for an AUTOMATIC1111-format block already split by ``params.parse_a1111``."""
    other = dict(fields.get("other_settings") or {})
    weights = {x["name"]: x["value"] for x in lora_pairs(other.get("Lora weights"))}
    hashes = {x["name"]: x["value"] for x in lora_pairs(other.get("Lora hashes"))}
    loras = [{"name": n, "weight": weights.get(n), "hash": hashes.get(n)} for n in dict.fromkeys([*weights, *hashes])]
    embeddings = [x["name"] for x in lora_pairs(other.get("TI hashes"))]
    version = fields.get("version")
    if tool == "Fooocus" and isinstance(version, str):
        version = version.removeprefix("Fooocus ").removeprefix("v")
    return make_params(
        tool, source_format, raw, tool_version=version, model=fields.get("model"),
        model_hash=fields.get("model_hash"), loras=loras, embeddings=embeddings, prompt=fields.get("prompt"),
        negative_prompt=fields.get("negative_prompt"), seed=fields.get("seed"), steps=fields.get("steps"),
        sampler=fields.get("sampler"), scheduler=fields.get("scheduler") or other.get("Scheduler"),
        cfg_scale=fields.get("cfg_scale"), width=fields.get("width"), height=fields.get("height"), unknown=other)


def a1111_tool(version: Any, app: Any = None) -> str:
    """Which front-end wrote an A1111-format block, from its ``Version`` (and SD.Next's ``App``) setting."""
    if "sd.next" in str(app or "").lower():
        return "SD.Next"
    v = str(version or "")
    if v.startswith("Fooocus"):
        return "Fooocus"
    if re.match(r"^f\d", v):
        return "Stable Diffusion WebUI Forge"
    if v.lower().startswith("neo"):
        return "Stable Diffusion WebUI Forge (Neo)"
    return "AUTOMATIC1111 Stable Diffusion web UI"


# ------------------------------------------------------------- SwarmUI --


def parse_swarmui(data: Any) -> GenerationParams:
    """SwarmUI's ``{"sui_image_params": {...}, "sui_extra_data": {...}, "sui_models": [...]}``."""
    data = _obj(data, "SwarmUI metadata")
    params = data.get("sui_image_params")
    if not isinstance(params, dict):
        raise MetadataError("SwarmUI metadata has no 'sui_image_params' object")
    models = data.get("sui_models") if isinstance(data.get("sui_models"), list) else []
    model = params.get("model")
    model_hash = None
    for m in models[:50]:
        if isinstance(m, dict) and m.get("param") == "model":
            model_hash = m.get("hash")
    names = params.get("loras") if isinstance(params.get("loras"), list) else []
    weights = params.get("loraweights") if isinstance(params.get("loraweights"), list) else []
    loras = [{"name": n, "weight": weights[i] if i < len(weights) else None} for i, n in enumerate(names[:50])]
    used = {"prompt", "negativeprompt", "model", "seed", "steps", "cfgscale", "width", "height", "sampler",
            "scheduler", "swarm_version", "loras", "loraweights"}
    unknown = _rest(params, used)
    if isinstance(data.get("sui_extra_data"), dict):
        unknown["sui_extra_data"] = data["sui_extra_data"]
    if models:
        unknown["sui_models"] = models
    return make_params(
        "SwarmUI", "sui_image_params (JSON)", json.dumps(data)[:MAX_JSON_CHARS],
        tool_version=params.get("swarm_version"), model=model, model_hash=model_hash, loras=loras,
        prompt=params.get("prompt"), negative_prompt=params.get("negativeprompt"), seed=params.get("seed"),
        steps=params.get("steps"), cfg_scale=params.get("cfgscale"), width=params.get("width"),
        height=params.get("height"), sampler=params.get("sampler") or params.get("comfyuisampler"),
        scheduler=params.get("scheduler") or params.get("comfyuischeduler"), unknown=unknown)


# ------------------------------------------------------- Easy Diffusion --

# internal key -> display label (TASK_TEXT_MAPPING in save_utils.py): both are written
ED_LABELS = {
    "prompt": "Prompt", "negative_prompt": "Negative Prompt", "seed": "Seed",
    "use_stable_diffusion_model": "Stable Diffusion model", "clip_skip": "Clip Skip",
    "use_vae_model": "VAE model", "sampler_name": "Sampler", "width": "Width", "height": "Height",
    "num_inference_steps": "Steps", "guidance_scale": "Guidance Scale", "use_lora_model": "LoRA model",
    "lora_alpha": "LoRA Strength", "use_embeddings_model": "Embedding models",
}
ED_MARKERS = ("use_stable_diffusion_model", "Stable Diffusion model", "num_inference_steps")


def is_easy_diffusion(keys: Any) -> bool:
    """Whether a set of keys is Easy Diffusion's (its model key is unique to it)."""
    return any(k in keys for k in ED_MARKERS) and any(k in keys for k in ("prompt", "Prompt"))


def _literal_list(value: Any) -> list[Any]:
    """A list stored as a list, as JSON, or as Python's ``str(list)`` (Easy Diffusion's PNG chunks)."""
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.startswith("[") and len(value) <= 10_000:
        try:
            got = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return [value]
        return got if isinstance(got, list) else [value]
    return [] if value in (None, "None", "") else [value]


def parse_easy_diffusion(data: Any) -> GenerationParams:
    """Easy Diffusion settings, from PNG chunks (a dict of strings) or the UserComment JSON."""
    data = _obj(data, "Easy Diffusion metadata")
    if not is_easy_diffusion(data):
        raise MetadataError("the metadata lacks Easy Diffusion's model and prompt keys")

    def get(key: str) -> Any:
        return data.get(key, data.get(ED_LABELS.get(key, key)))

    names = _literal_list(get("use_lora_model"))
    alphas = _literal_list(get("lora_alpha"))
    loras = [{"name": n, "weight": alphas[i] if i < len(alphas) else None} for i, n in enumerate(names[:50])]
    mapped = {"prompt", "negative_prompt", "seed", "use_stable_diffusion_model", "sampler_name", "width", "height",
              "num_inference_steps", "guidance_scale", "use_lora_model", "lora_alpha", "use_embeddings_model"}
    used = mapped | {ED_LABELS[k] for k in mapped}
    return make_params(
        "Easy Diffusion", "Easy Diffusion settings", json.dumps(data, default=str)[:MAX_JSON_CHARS],
        model=get("use_stable_diffusion_model"), loras=loras,
        embeddings=[str(e) for e in _literal_list(get("use_embeddings_model"))], prompt=get("prompt"),
        negative_prompt=get("negative_prompt"), seed=get("seed"), steps=get("num_inference_steps"),
        cfg_scale=get("guidance_scale"), sampler=get("sampler_name"), width=get("width"), height=get("height"),
        unknown=_rest(data, used))


# ---------------------------------------------------------- Draw Things --


def parse_draw_things(data: Any, description: str | None = None) -> GenerationParams:
    """Draw Things' UserComment JSON (from its XMP)."""
    data = _obj(data, "Draw Things UserComment")
    width, height = _split_size(data.get("size"))
    loras = []
    for item in (data.get("lora") if isinstance(data.get("lora"), list) else [])[:50]:
        if isinstance(item, dict):
            loras.append({"name": item.get("file") or item.get("model"), "weight": item.get("weight")})
    used = {"c", "uc", "seed", "steps", "scale", "sampler", "model", "size", "lora"}
    unknown = _rest(data, used)
    if description:
        unknown["description"] = cut(description, 2_000)
    return make_params(
        "Draw Things", "XMP exif:UserComment (JSON)", json.dumps(data)[:MAX_JSON_CHARS], model=data.get("model"),
        loras=loras, prompt=data.get("c"), negative_prompt=data.get("uc"), seed=data.get("seed"),
        steps=data.get("steps"), cfg_scale=data.get("scale"), sampler=data.get("sampler"), width=width,
        height=height, unknown=unknown)


# ------------------------------------------------------ ComfyUI in EXIF --

_KEYED_JSON = re.compile(r"^\s*([A-Za-z_][\w\- ]{0,40}?)\s*:\s*([\[{].*)$", re.S)


def keyed_json(text: str) -> tuple[str, Any] | None:
    """``("prompt", {...})`` from ComfyUI's ``"prompt:{...}"`` EXIF strings; None when not of that form."""
    match = _KEYED_JSON.match(text[:16]) and _KEYED_JSON.match(text)
    if not match or len(text) > MAX_JSON_CHARS:
        return None
    try:
        return match.group(1).strip(), json.loads(match.group(2))
    except (ValueError, RecursionError):
        return None


def comfy_exif_fields(texts: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """ComfyUI graphs found in EXIF text fields: ({"prompt": graph, "workflow": graph, ...}, [fields used])."""
    found: dict[str, Any] = {}
    where: list[str] = []
    for field_name, text in texts.items():
        if not isinstance(text, str):
            continue
        got = keyed_json(text)
        if got is not None:
            found.setdefault(got[0].lower(), got[1])
            where.append(field_name)
    return found, where
