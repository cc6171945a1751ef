"""One normalised record for the generation parameters of every writer.

Each front-end stores its settings its own way (a text block, a JSON object, a
command line, EXIF fields, bits hidden in the pixels). Every reader in
``params.py``, ``generators.py`` and ``stealth.py`` maps what it found onto
``GenerationParams``, so a report can show the same fields for every tool.
Nothing is dropped: fields a reader does not map go to ``unknown``, and the text
exactly as stored goes to ``raw`` (cut at a limit). Prompts and raw text are
untrusted input; every place that shows them escapes them (the HTML reports
autoescape, the terminal table escapes Rich markup).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

MAX_FIELD_CHARS = 10_000  # one prompt or value, cut beyond this
MAX_RAW_CHARS = 20_000  # the stored text kept beside the record
MAX_UNKNOWN = 60  # unknown fields kept per record
MAX_LIST = 50  # LoRAs / embeddings kept per record


def cut(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """``text`` shortened to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit] + " [...]"


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and len(value) <= 40:
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                return None
            return int(f) if math.isfinite(f) and f.is_integer() else None
    return None


def as_float(value: Any) -> float | None:
    """A finite float from a number or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        f = float(value)
    elif isinstance(value, str) and len(value) <= 40:
        try:
            f = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def as_text(value: Any, limit: int = MAX_FIELD_CHARS) -> str | None:
    """A non-empty string (numbers rendered), cut at ``limit``; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        value = value.strip()
        return cut(value, limit) if value else None
    return None


def plain_value(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, size-bounded copy of an unknown field (deep or huge values are summarised)."""
    if isinstance(value, str):
        return cut(value, 2_000)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= 3:
        return f"<{type(value).__name__} nested too deeply to show>"
    if isinstance(value, dict):
        items = list(value.items())[:30]
        return {str(k)[:100]: plain_value(v, depth + 1) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [plain_value(v, depth + 1) for v in list(value)[:30]]
    return cut(repr(value), 200)


@dataclass(frozen=True)
class GenerationParams:
    """What a generator wrote about how it made the image, in one shape for every tool.

    ``tool`` names the writer (``"InvokeAI"``, ``"Fooocus"``...) and
    ``source_format`` the format it was read from (``"invokeai_metadata"``,
    ``"stealth_pngcomp"``...). ``loras`` holds dicts with ``name`` and, when
    stored, ``weight`` and ``hash``. ``unknown`` keeps every field the reader did
    not map; ``raw`` is the stored text itself.
    """

    tool: str
    source_format: str
    tool_version: str | None = None
    model: str | None = None
    model_hash: str | None = None
    loras: tuple[dict[str, Any], ...] = ()
    embeddings: tuple[str, ...] = ()
    seed: int | None = None
    steps: int | None = None
    sampler: str | None = None
    scheduler: str | None = None
    cfg_scale: float | None = None
    width: int | None = None
    height: int | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    unknown: dict[str, Any] = field(default_factory=dict)
    raw: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; empty fields are left out, ``raw`` is not included (see ``details``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "raw" or value in (None, "", (), {}):
                continue
            if f.name == "loras":
                value = [dict(v) for v in value]
            elif f.name == "embeddings":
                value = list(value)
            out[f.name] = value
        return out


def make_params(tool: str, source_format: str, raw: str = "", *, unknown: dict[str, Any] | None = None,
                loras: list[dict[str, Any]] | None = None, embeddings: list[str] | None = None,
                **values: Any) -> GenerationParams:
    """Build a record from loosely typed values: numbers are coerced, text is cut, junk becomes None.

    A value that cannot be coerced (a seed of ``"random"``) is not lost: it moves
    to ``unknown`` under its field name.
    """
    kept = dict(list((unknown or {}).items())[:MAX_UNKNOWN])
    typed: dict[str, Any] = {}
    coerce = {"seed": as_int, "steps": as_int, "width": as_int, "height": as_int, "cfg_scale": as_float}
    for key, value in values.items():
        if value is None or value == "":
            continue
        conv = coerce.get(key, as_text)
        got = conv(value)
        if got is None:
            kept.setdefault(key, plain_value(value))
        else:
            typed[key] = got
    clean_loras = []
    for lora in (loras or [])[:MAX_LIST]:
        name = as_text(lora.get("name"), 500)
        if not name:
            continue
        item: dict[str, Any] = {"name": name}
        weight = as_float(lora.get("weight"))
        if weight is not None:
            item["weight"] = weight
        digest = as_text(lora.get("hash"), 200)
        if digest:
            item["hash"] = digest
        clean_loras.append(item)
    clean_emb = tuple(t for t in (as_text(e, 500) for e in (embeddings or [])[:MAX_LIST]) if t)
    return GenerationParams(
        tool=tool, source_format=source_format, loras=tuple(clean_loras), embeddings=clean_emb,
        unknown={str(k)[:100]: plain_value(v) for k, v in kept.items()}, raw=cut(raw, MAX_RAW_CHARS), **typed)
