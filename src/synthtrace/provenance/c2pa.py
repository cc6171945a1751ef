"""C2PA Content Credentials, read and validated with ``c2pa-python``.

A C2PA manifest is the only provenance signal that is cryptographically bound to
the pixels, so it is the most reliable one -- but only as far as its validation
goes. We therefore report the claims (claim generator, ``c2pa.actions`` with
``digitalSourceType`` and ``softwareAgent``, ingredients) together with one of
four states, and let the state set the reliability:

- ``trusted``: signature and hashes check out and the signing certificate chains
  to a trust anchor the user configured (``trust_anchors``, a PEM file);
- ``valid_untrusted``: signature and hashes check out, but the signer is unknown
  -- anyone can make a certificate, as the tests do;
- ``invalid``: the file changed after signing, or the manifest is damaged;
- ``absent``: no manifest (most images), which proves nothing.

Trust anchors are a setting, never built in, and reading is offline: remote
manifest and OCSP fetching are switched off.
"""

from __future__ import annotations

import importlib
import json
from io import BytesIO
from pathlib import Path
from typing import Any

from synthtrace.provenance.metadata import classify_source_type, match_software, missing_extra
from synthtrace.records import Evidence

RELIABILITY = {"trusted": 0.95, "valid_untrusted": 0.5, "invalid": 0.1}
MAX_ANCHOR_BYTES = 16 << 20
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "tiff": "image/tiff",
        "avif": "image/avif", "heif": "image/heic", "gif": "image/gif"}
OFFLINE = {"verify": {"verify_trust": True, "ocsp_fetch": False, "remote_manifest_fetch": False}}


def load_trust_anchors(path: Path) -> str:
    """PEM text of the trust anchors; ValueError with a clear message if unusable."""
    try:
        size = path.stat().st_size
        if size > MAX_ANCHOR_BYTES:
            raise ValueError(f"trust anchor file {path} is {size} bytes; expected a PEM bundle under 16 MiB")
        pem = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"cannot read trust anchor file {path}: {exc.strerror or exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError(f"trust anchor file {path} contains no PEM certificate "
                         "(expected '-----BEGIN CERTIFICATE-----' blocks)")
    return pem


def read_c2pa(data: bytes, fmt: str, *, trust_anchors: Path | None = None) -> list[Evidence]:
    """Read and validate the C2PA manifest store in ``data``."""
    try:
        c2pa = importlib.import_module("c2pa")
    except ImportError:
        return [missing_extra("c2pa", "c2pa", "c2pa-python")]
    out: list[Evidence] = []
    settings: dict[str, Any] = json.loads(json.dumps(OFFLINE))
    if trust_anchors is not None:
        try:
            settings["trust"] = {"trust_anchors": load_trust_anchors(Path(trust_anchors))}
        except ValueError as exc:
            out.append(Evidence(
                source="c2pa", name="trust_anchors", error=str(exc),
                explanation="The configured C2PA trust anchors could not be loaded, so no signer can be "
                "reported as trusted for this scan. Fix the file path in the settings."))
    try:
        ctx = c2pa.Context.from_dict(settings)
    except c2pa.C2paError as exc:
        settings.pop("trust", None)
        out.append(Evidence(source="c2pa", name="trust_anchors", error=f"C2PA rejected the trust anchors: {exc}",
                            explanation="The configured trust anchors were rejected; validating without them."))
        ctx = c2pa.Context.from_dict(settings)
    anchors = "trust" in settings
    try:
        reader = c2pa.Reader.try_create(MIME.get(fmt), BytesIO(data), None, ctx)
    except c2pa.C2paError.NotSupported:
        return out + [_absent(f"the C2PA reader does not support this file type ({fmt})")]
    except c2pa.C2paError.RemoteManifest as exc:
        return out + [Evidence(
            source="c2pa", name="c2pa_manifest", details={"state": "remote_not_fetched", "message": str(exc)},
            explanation="The file points to Content Credentials stored online. synthtrace works offline and did "
            "not fetch them; check the file with a C2PA verifier that is allowed to go online.")]
    except c2pa.C2paError as exc:
        if b"c2pa" not in data and b"jumb" not in data:
            return out + [_absent("the C2PA reader could not parse this file's container", str(exc))]
        return out + [Evidence(
            source="c2pa", name="c2pa_manifest", error=f"C2PA data could not be read: {exc}",
            details={"state": "unreadable"},
            explanation="The file contains what looks like C2PA Content Credentials, but they are damaged or "
            "truncated and could not be read. Damaged credentials cannot be relied on either way.")]
    if reader is None:
        return out + [_absent()]
    with reader:
        store = json.loads(reader.json())
    return out + [_manifest_evidence(store, anchors)]


def _absent(why: str = "", message: str = "") -> Evidence:
    note = f" ({why})" if why else ""
    return Evidence(
        source="c2pa", name="c2pa_manifest", details={"state": "absent", **({"message": message} if message else {})},
        explanation=f"No C2PA Content Credentials found{note}. Most images have none, and they are removed by "
        "most re-saves and uploads, so this absence proves nothing.")


def _state(store: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    raw = str(store.get("validation_state") or "")
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {} if isinstance(results, dict) else {}
    failures = [f for f in _list(active.get("failure")) if isinstance(f, dict)] if isinstance(active, dict) else []
    codes = [{"code": str(f.get("code")), "explanation": str(f.get("explanation", ""))[:300]} for f in failures]
    state = {"Trusted": "trusted", "Valid": "valid_untrusted"}.get(raw, "invalid")
    return state, codes[:20]


def _list(value: Any) -> list[Any]:
    """``value`` when it is a list, else an empty list (a damaged store must not break the reader)."""
    return value if isinstance(value, list) else []


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    acts: list[dict[str, Any]] = []
    for assertion in _list(manifest.get("assertions")):
        if not isinstance(assertion, dict) or not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        data = assertion.get("data") if isinstance(assertion.get("data"), dict) else {}
        for act in _list(data.get("actions")):
            if not isinstance(act, dict):
                continue
            agent = act.get("softwareAgent")
            if isinstance(agent, dict):
                agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k))
            item = {"action": str(act.get("action", ""))[:100]}
            if act.get("digitalSourceType"):
                item["digital_source_type"] = str(act["digitalSourceType"])[:300]
            if agent:
                item["software_agent"] = str(agent)[:300]
            if act.get("when"):
                item["when"] = str(act["when"])[:100]
            acts.append(item)
    return acts[:50]


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        return " ".join(str(info[0][k]) for k in ("name", "version") if info[0].get(k)) or None
    gen = manifest.get("claim_generator")
    return str(gen)[:300] if gen else None


# Signer organisations of the big generators' Content Credentials, for naming the tool
# when neither the claim generator nor the software agent names a known generator.
SIGNER_TOOLS = (("openai", "OpenAI (ChatGPT / DALL·E)"), ("google", "Google (Gemini / Imagen)"),
                ("microsoft", "Microsoft (Bing Image Creator / Designer / Copilot)"), ("adobe", "Adobe Firefly"),
                ("meta platforms", "Meta AI"), ("stability", "Stability AI"))


def _tool(actions: list[dict[str, Any]], claim_generator: str | None, issuer: str | None) -> str | None:
    """The generator a manifest names: a known tool in the software agents, then the claim generator, then the signer."""
    for text in [a.get("software_agent") for a in actions] + [claim_generator]:
        hit = match_software(str(text)) if text else None
        if hit and hit[1] == "generator":
            return hit[0]
    low = str(issuer or "").lower()
    return next((name for needle, name in SIGNER_TOOLS if needle in low), None)


def _training_mining(manifest: dict[str, Any]) -> dict[str, str]:
    """``c2pa.training-mining`` / ``cawg.training-mining`` entries as {use: permission}."""
    out: dict[str, str] = {}
    for assertion in _list(manifest.get("assertions")):
        if not isinstance(assertion, dict) or "training-mining" not in str(assertion.get("label", "")):
            continue
        data = assertion.get("data") if isinstance(assertion.get("data"), dict) else {}
        entries = data.get("entries") if isinstance(data.get("entries"), dict) else {}
        for key, value in list(entries.items())[:20]:
            use = value.get("use") if isinstance(value, dict) else value
            out[str(key)[:100]] = str(use)[:50]
    return out


def _strongest(actions: list[dict[str, Any]]) -> tuple[str, float, str, dict[str, Any]] | None:
    best = None
    for act in actions:
        if "digital_source_type" not in act:
            continue
        _, direction, strength, meaning = classify_source_type(act["digital_source_type"])
        rank = (direction == "generated", direction == "authentic", strength)
        if best is None or rank > best[0]:
            best = (rank, (direction, strength, meaning, act))
    return best[1] if best else None


def _manifest_evidence(store: dict[str, Any], anchors: bool) -> Evidence:
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    key = store.get("active_manifest")
    active = manifests.get(key, {}) if manifests and isinstance(key, str) else {}
    active = active if isinstance(active, dict) else {}
    state, failures = _state(store)
    actions = _actions(active)
    ingredients = []
    inherited = None
    for ing in _list(active.get("ingredients"))[:50]:
        if not isinstance(ing, dict):
            continue
        label = ing.get("active_manifest")
        sub = manifests.get(label) if isinstance(label, str) else None
        sub_actions = _actions(sub) if isinstance(sub, dict) else []
        ingredients.append({"title": str(ing.get("title", ""))[:200], "format": str(ing.get("format", ""))[:50],
                            "relationship": str(ing.get("relationship", ""))[:50],
                            "has_manifest": sub is not None, "actions": sub_actions[:10]})
        hit = _strongest(sub_actions)
        if hit and hit[0] == "generated" and inherited is None:
            inherited = hit
    sig = active.get("signature_info") if isinstance(active.get("signature_info"), dict) else {}
    signer = str(sig.get("common_name") or sig.get("issuer") or "an unnamed signer")[:200]
    details: dict[str, Any] = {
        "state": state, "validation_state": store.get("validation_state"), "failures": failures,
        "trust_anchors_configured": anchors, "claim_generator": _claim_generator(active),
        "title": active.get("title"), "signer": signer, "issuer": sig.get("issuer"),
        "signed_at": sig.get("time"), "actions": actions, "ingredients": ingredients,
        "manifest_count": len(manifests),
    }
    tool = _tool(actions + [a for ing in ingredients for a in ing["actions"]], details["claim_generator"],
                 sig.get("issuer"))
    if tool:
        details["generator"] = tool
    mining = _training_mining(active)
    if mining:
        details["training_mining"] = mining
    hit = _strongest(actions)
    direction, strength, claim = "none", 0.0, "It makes no claim about how the image was made."
    if hit and hit[0] != "none":
        direction, strength, meaning, act = hit
        agent = f" (software: {act['software_agent']})" if act.get("software_agent") else ""
        claim = f"It declares the image was {meaning}{agent}."
        details["digital_source_type"] = act["digital_source_type"]
    elif inherited:
        direction, strength = "generated", inherited[1] * 0.8
        claim = f"One of its ingredients is declared {inherited[2]}."
    if state == "trusted":
        status = (f"The file carries Content Credentials (C2PA) signed by {signer}, whose certificate chains to a "
                  "configured trust anchor; the signature and content hashes check out.")
    elif state == "valid_untrusted":
        why = ("it is not on the configured trust list" if anchors
               else "no trust anchors are configured (see the trust_anchors setting)")
        status = (f"The file carries Content Credentials (C2PA) signed by {signer}. The signature and content "
                  f"hashes check out, but the signer is not known to be trustworthy: {why}. Anyone can create "
                  "a signing certificate.")
    else:
        codes = ", ".join(f["code"] for f in failures) or "no detail given"
        status = (f"The file carries Content Credentials (C2PA), but they do not validate ({codes}): the file "
                  "was changed after signing or the credentials are damaged. Its claims cannot be relied on.")
    if tool and direction == "generated":
        claim += f" The generator named is {tool}."
    if mining:
        claim += (" It also states whether the image may be used for AI training and data mining ("
                  + ", ".join(f"{k}: {v}" for k, v in mining.items()) + "); that is a permission, not evidence.")
    return Evidence(source="c2pa", name="c2pa_manifest", direction=direction, strength=strength,
                    reliability=RELIABILITY[state] if direction != "none" else 0.0,
                    explanation=f"{status} {claim}", details=details)
