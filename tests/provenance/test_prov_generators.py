"""Round trips for the writers of issue 20: every fixture is made here, in code.

Each fixture writes the structure the tool's own public code writes (the writing
code is not copied; the format is). Sources and licences of the formats:
InvokeAI (Apache-2.0: ``ldm/invoke/pngwriter.py`` for ``Dream``/``sd-metadata``,
``image_files_disk.py`` for ``invokeai_metadata``/``invokeai_graph``), Fooocus
(GPL-3.0: ``modules/meta_parser.py``, ``modules/private_logger.py``), ComfyUI
(GPL-3.0: ``comfy_extras/nodes_images.py``, the WebP savers), SwarmUI (MIT:
``src/Utils/Image.cs``), Easy Diffusion (MIT: ``ui/easydiffusion/utils/save_utils.py``
and sdkit's ``save_dicts``), the stealth-pnginfo extension (its ``add_data``
bit layout), Draw Things (closed source; the documented XMP structure),
Midjourney (its published PNG/XMP description and IPTC fields), C2PA manifests as
OpenAI, Google and Microsoft describe them (signed here with a self-made test
chain). The fixtures themselves are ours, under the project's licence.
"""

from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from .prov_helpers import jpeg_bytes, png_bytes, sign_c2pa, xmp_packet
from synthtrace.provenance import read_provenance
from synthtrace.provenance.generators import parse_dream
from synthtrace.provenance.metadata import MetadataError, looks_like_camera
from synthtrace.provenance.stealth import decode_stealth
from synthtrace.verdict import decide


def _read(data: bytes, name: str = "x.png"):
    return read_provenance(name, data=data, watermarks=False)


def _one(evidence, name):
    hits = [e for e in evidence if e.name == name and e.error is None]
    assert len(hits) == 1, [e.to_dict() for e in evidence]
    return hits[0]


def _png_with(texts: dict[str, str], image: Image.Image | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buf = io.BytesIO()
    (image or Image.new("RGB", (64, 64), (90, 120, 150))).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _params(ev) -> dict:
    p = ev.details["parameters"]
    assert ev.source == "params" and ev.direction == "generated" and ev.details["tool"] == p["tool"]
    return p


def _declared(evidence, tool_fragment: str) -> None:
    verdict = decide(evidence)
    assert verdict.label == "declared_ai_generated", verdict
    tools = {e.details.get("tool") or e.details.get("generator") for e in evidence if e.direction == "generated"}
    assert any(tool_fragment in str(t) for t in tools), tools


# ------------------------------------------------------------------ InvokeAI --

PROMPT = "a lighthouse on a cliff, oil painting"
NEGATIVE = "blurry, lowres"


def test_invokeai_1x_dream_chunk():
    # pngwriter's format string: '"{:s} [{:s}]" -s {:d} -S {:d} -W {:d} -H {:d} -C {:f} -A {:s}'
    dream = '"{:s} [{:s}]" -s {:d} -S {:d} -W {:d} -H {:d} -C {:f} -A {:s} -G 0.8'.format(
        PROMPT, NEGATIVE, 40, 1234567890, 512, 768, 7.5, "k_euler_a")
    evidence = _read(_png_with({"Dream": dream}))
    p = _params(_one(evidence, "invokeai_metadata"))
    assert (p["tool"], p["source_format"]) == ("InvokeAI", "Dream (InvokeAI 1.x)")
    assert (p["prompt"], p["negative_prompt"]) == (PROMPT, NEGATIVE)
    assert (p["steps"], p["seed"], p["width"], p["height"], p["cfg_scale"], p["sampler"]) == (
        40, 1234567890, 512, 768, 7.5, "k_euler_a")
    assert p["unknown"] == {"-G": "0.8"}
    _declared(evidence, "InvokeAI")


def test_invokeai_2x_sd_metadata_wins_over_dream():
    meta = {"model": "stable diffusion", "model_weights": "stable-diffusion-1.5", "model_hash": "cc6cb27103",
            "app_id": "invoke-ai/InvokeAI", "app_version": "2.3.5",
            "image": {"prompt": [{"prompt": f"{PROMPT} [{NEGATIVE}]", "weight": 1.0}], "steps": 30,
                      "cfg_scale": 7.5, "threshold": 0, "perlin": 0, "height": 512, "width": 512, "seed": 42,
                      "seamless": False, "type": "txt2img", "postprocessing": None, "sampler": "k_lms",
                      "variations": []}}
    data = _png_with({"Dream": f'"{PROMPT}" -s 30 -S 42', "sd-metadata": json.dumps(meta)})
    ev = _one(_read(data), "invokeai_metadata")
    p = _params(ev)
    assert p["source_format"] == "sd-metadata (InvokeAI 2.x)" and p["tool_version"] == "2.3.5"
    assert (p["model"], p["model_hash"], p["sampler"], p["seed"]) == ("stable-diffusion-1.5", "cc6cb27103", "k_lms", 42)
    assert (p["prompt"], p["negative_prompt"]) == (PROMPT, NEGATIVE)
    assert p["unknown"]["app_id"] == "invoke-ai/InvokeAI" and p["unknown"]["image.type"] == "txt2img"
    assert ev.details["chunks"] == ["sd-metadata", "Dream"]


def test_invokeai_5x_metadata_and_graph():
    meta = {"generation_mode": "sdxl_txt2img", "positive_prompt": PROMPT, "negative_prompt": NEGATIVE,
            "width": 1024, "height": 1024, "seed": 591741300, "cfg_scale": 6.0, "steps": 30,
            "scheduler": "dpmpp_2m_sde", "app_version": "5.4.2",
            "model": {"key": "db73", "hash": "blake3:8967e7", "name": "juggernautXL_v9", "base": "sdxl",
                      "type": "main"},
            "loras": [{"model": {"key": "a1", "hash": "blake3:ff00", "name": "detail-tweaker", "base": "sdxl"},
                       "weight": 0.75}],
            "brand_new_field": {"kept": True}}
    graph = {"id": "sdxl_graph:7L", "nodes": {"noise:J": {"seed": 591741300, "type": "noise"}}, "edges": []}
    evidence = _read(_png_with({"invokeai_metadata": json.dumps(meta), "invokeai_graph": json.dumps(graph)}))
    p = _params(_one(evidence, "invokeai_metadata"))
    assert (p["tool_version"], p["model"], p["model_hash"]) == ("5.4.2", "juggernautXL_v9", "blake3:8967e7")
    assert p["loras"] == [{"name": "detail-tweaker", "weight": 0.75, "hash": "blake3:ff00"}]
    assert (p["scheduler"], p["cfg_scale"], p["width"]) == ("dpmpp_2m_sde", 6.0, 1024)
    assert p["unknown"]["brand_new_field"] == {"kept": True}  # unknown fields are kept
    assert json.loads(_one(evidence, "invokeai_metadata").details["raw"])["seed"] == 591741300
    _declared(evidence, "InvokeAI")


def test_invokeai_graph_alone():
    graph = {"id": "g", "nodes": {"n1": {"id": "n1", "type": "noise", "seed": 7},
                                  "n2": {"id": "positive_prompt", "type": "compel", "prompt": PROMPT},
                                  "n3": {"id": "main_model_loader", "type": "main_model_loader",
                                         "model": {"model_name": "sd-1.5", "base_model": "sd-1"}},
                                  "n4": {"id": "denoise", "type": "denoise_latents", "steps": 25, "cfg_scale": 7}}}
    p = _params(_one(_read(_png_with({"invokeai_graph": json.dumps(graph)})), "invokeai_metadata"))
    assert (p["seed"], p["prompt"], p["model"], p["steps"], p["cfg_scale"]) == (7, PROMPT, "sd-1.5", 25, 7.0)


def test_invokeai_bad_json_is_an_error_item():
    evidence = _read(_png_with({"invokeai_metadata": "{broken"}))
    (err,) = [e for e in evidence if e.name == "invokeai_metadata"]
    assert err.error and "not valid JSON" in err.error


def test_dream_requires_its_format():
    with pytest.raises(MetadataError, match="quoted prompt"):
        parse_dream("no quotes -s 20")


# ------------------------------------------------------------------- Fooocus --

FOOOCUS = {"adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion",
           "base_model_hash": "aeb7e9e689", "clip_skip": 2, "full_negative_prompt": ["ugly", "blurry"],
           "full_prompt": ["a smiling goldfish, cinematic", "deep focus"], "guidance_scale": 4,
           "loras": [["sd_xl_offset_example-lora_1.0", 0.1, "4852686128"]], "metadata_scheme": "fooocus",
           "negative_prompt": "", "performance": "Speed", "prompt": "a smiling goldfish",
           "resolution": "(896, 1152)", "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras",
           "seed": "6952411511246973023", "sharpness": 2, "steps": 30, "styles": "['Fooocus V2']",
           "vae": "Default (model)", "version": "Fooocus v2.5.5"}
FOOOCUS_A1111 = ("a smiling goldfish, cinematic, deep focus\nNegative prompt: ugly, blurry\n"
                 "Steps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 6952411511246973023, Size: 896x1152, CFG scale: 4, "
                 'Sharpness: 2, Model: juggernautXL_v8Rundiffusion, Model hash: aeb7e9e689, Performance: Speed, '
                 'Scheduler: karras, Raw prompt: a smiling goldfish, Lora hashes: "sd_xl_offset: 4852686128", '
                 'Lora weights: "sd_xl_offset: 0.1", Version: Fooocus v2.5.5')


def _fooocus_exif(text: str, scheme: str) -> Image.Exif:
    # private_logger.get_exif: UserComment and MakerNote in IFD0, Software "Fooocus v<version>"
    exif = Image.Exif()
    exif[0x9286] = text
    exif[0x0131] = "Fooocus v2.5.5"
    exif[0x927C] = scheme
    return exif


def test_fooocus_scheme_png():
    evidence = _read(_png_with({"parameters": json.dumps(dict(sorted(FOOOCUS.items()))), "fooocus_scheme": "fooocus"}))
    p = _params(_one(evidence, "fooocus_parameters"))
    assert (p["tool"], p["tool_version"], p["model"], p["model_hash"]) == (
        "Fooocus", "2.5.5", "juggernautXL_v8Rundiffusion", "aeb7e9e689")
    assert (p["prompt"], p["negative_prompt"]) == ("a smiling goldfish, cinematic, deep focus", "ugly, blurry")
    assert (p["seed"], p["width"], p["height"], p["cfg_scale"]) == (6952411511246973023, 896, 1152, 4.0)
    assert p["loras"] == [{"name": "sd_xl_offset_example-lora_1.0", "weight": 0.1, "hash": "4852686128"}]
    assert p["unknown"]["sharpness"] == 2 and p["unknown"]["prompt"] == "a smiling goldfish"
    _declared(evidence, "Fooocus")


@pytest.mark.parametrize("version,extra,tool", [
    ("v1.10.1", "", "AUTOMATIC1111 Stable Diffusion web UI"),
    ("f2.0.1v1.10.1-previous-313-g8a042934", "", "Stable Diffusion WebUI Forge"),
    ("2c4d5e6f", ", App: SD.Next", "SD.Next"),
])
def test_a1111_family_tool_from_version(version, extra, tool):
    text = f"a cat\nSteps: 20, Sampler: Euler, Seed: 1, Size: 64x64{extra}, Version: {version}"
    assert _params(_one(_read(_png_with({"parameters": text})), "a1111_parameters"))["tool"] == tool


def test_fooocus_a1111_scheme_png():
    evidence = _read(_png_with({"parameters": FOOOCUS_A1111, "fooocus_scheme": "a1111"}))
    p = _params(_one(evidence, "fooocus_parameters"))
    assert (p["tool"], p["tool_version"], p["steps"], p["scheduler"]) == ("Fooocus", "2.5.5", 30, "karras")
    assert p["loras"] == [{"name": "sd_xl_offset", "weight": 0.1, "hash": "4852686128"}]
    assert p["unknown"]["Raw prompt"] == "a smiling goldfish"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
@pytest.mark.parametrize("scheme", ["fooocus", "a1111"])
def test_fooocus_exif_forms(fmt, scheme):
    text = json.dumps(FOOOCUS) if scheme == "fooocus" else FOOOCUS_A1111
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, fmt, quality=95, exif=_fooocus_exif(text, scheme))
    evidence = _read(buf.getvalue(), "f." + fmt.lower())
    p = _params(_one(evidence, "fooocus_parameters"))
    assert p["seed"] == 6952411511246973023 and p["model"] == "juggernautXL_v8Rundiffusion"
    assert not [e for e in evidence if e.name == "camera"]
    _declared(evidence, "Fooocus")


# ------------------------------------------------------- ComfyUI WebP in EXIF --

COMFY_PROMPT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in snow", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark", "clip": ["4", 1]}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286, "steps": 20, "cfg": 8.0,
                                               "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                                               "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                                               "latent_image": ["5", 0]}},
}
COMFY_WORKFLOW = {"last_node_id": 9, "version": 0.4, "links": [],
                  "nodes": [{"id": 3, "type": "KSampler", "widgets_values": [156680208700286, "fixed", 20]}]}


def _comfy_webp(frames: int) -> bytes:
    """What SaveWEBP / SaveAnimatedWEBP write: "prompt:" JSON in Model, extra_pnginfo keys from Make down."""
    images = [Image.new("RGB", (64, 64), (10 * i, 80, 120)) for i in range(frames)]
    metadata = images[0].getexif()
    metadata[0x0110] = "prompt:{}".format(json.dumps(COMFY_PROMPT))
    tag = 0x010F
    for key, value in {"workflow": COMFY_WORKFLOW, "comment": {"by": "test"}}.items():
        metadata[tag] = "{}:{}".format(key, json.dumps(value))
        tag -= 1
    buf = io.BytesIO()
    images[0].save(buf, "WEBP", save_all=True, duration=100, append_images=images[1:], exif=metadata,
                   lossless=False, quality=80, method=4)
    return buf.getvalue()


@pytest.mark.parametrize("frames", [1, 3], ids=["webp", "animated-webp"])
def test_comfyui_webp_is_a_generator_not_a_camera(frames):
    """The bug of issue 20: the graph JSON in Make/Model was reported as a camera."""
    evidence = _read(_comfy_webp(frames), "ComfyUI_00001_.webp")
    assert not [e for e in evidence if e.name == "camera"], "a generator's JSON must never count as a camera"
    ev = _one(evidence, "comfyui_workflow")
    p = _params(ev)
    assert ev.details["exif_fields"] == ["ImageDescription", "Make", "Model"]
    assert ev.details["extra_keys"] == ["comment"]
    assert (p["model"], p["seed"], p["steps"], p["sampler"], p["prompt"], p["negative_prompt"]) == (
        "sd_xl_base_1.0.safetensors", 156680208700286, 20, "euler", "a red fox in snow", "watermark")
    assert (p["width"], p["height"]) == (1024, 1024)
    _declared(evidence, "ComfyUI")


def test_comfyui_graph_in_user_comment():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + ("prompt:" + json.dumps(COMFY_PROMPT)).encode("utf-16-be")
    evidence = _read(jpeg_bytes(exif=exif), "c.jpg")
    assert _one(evidence, "comfyui_workflow").details["exif_fields"] == ["UserComment"]


# ----------------------------------------------------------- camera fields --


def test_real_camera_fields_are_still_a_camera():
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    sub = exif.get_ifd(0x8769)
    sub[0x829A], sub[0x829D], sub[0xA434] = 1 / 250, 2.8, "RF24-70mm F2.8 L IS USM"
    ev = _one(_read(jpeg_bytes(exif=exif), "c.jpg"), "camera")
    assert ev.direction == "authentic" and ev.details["model"] == "Canon EOS R5"
    assert ev.details["exposure_time"] == pytest.approx(0.004) and ev.details["f_number"] == pytest.approx(2.8)


@pytest.mark.parametrize("make,model", [
    ('{"nodes": []}', "x"), ("a castle at night, masterpiece, best quality", "Steps: 20, Seed: 1"),
    ("Stable Diffusion", "SDXL 1.0"), ("A" * 80, "B" * 80),
])
def test_non_camera_make_model_is_not_a_camera(make, model):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    evidence = _read(jpeg_bytes(exif=exif), "c.jpg")
    assert not [e for e in evidence if e.name == "camera"]
    assert decide(evidence).label != "declared_camera_capture"


def test_looks_like_camera():
    assert looks_like_camera("NIKON CORPORATION") and looks_like_camera("iPhone 13 Pro")
    assert not looks_like_camera("workflow:{}") and not looks_like_camera("Midjourney")
    assert not looks_like_camera("line one\nline two")


def test_generator_name_in_model_is_generator_evidence():
    exif = Image.Exif()
    exif[0x0110] = "NovelAI Diffusion V3"
    evidence = _read(jpeg_bytes(exif=exif), "c.jpg")
    assert [e for e in evidence if e.source == "exif" and e.direction == "generated"]


# ----------------------------------------------------------------- stealth --


def _stealth_bits(payload: str, mode: str, compressed: bool) -> np.ndarray:
    signature = f"stealth_{'png' if mode == 'alpha' else 'rgb'}{'comp' if compressed else 'info'}"
    body = gzip.compress(payload.encode()) if compressed else payload.encode()
    stream = signature.encode() + (len(body) * 8).to_bytes(4, "big") + body
    return np.unpackbits(np.frombuffer(stream, np.uint8))


def _stealth_png(payload: str, mode: str, compressed: bool, size=(96, 80)) -> bytes:
    """The extension's add_data: column by column, alpha LSB or R,G,B LSBs."""
    w, h = size
    rng = np.random.default_rng(3)
    pix = rng.integers(0, 256, (h, w, 4 if mode == "alpha" else 3), dtype=np.uint8)
    if mode == "alpha":
        pix[..., 3] = 255
    bits = _stealth_bits(payload, mode, compressed)
    cols = pix.transpose(1, 0, 2).copy()  # x outer, y inner
    if mode == "alpha":
        flat = cols[..., 3].reshape(-1)
    else:
        flat = cols[..., :3].reshape(-1)
    assert len(bits) <= len(flat), "test image too small for the payload"
    flat[: len(bits)] = (flat[: len(bits)] & 0xFE) | bits
    if mode == "alpha":
        cols[..., 3] = flat.reshape(cols.shape[:2])
    else:
        cols[..., :3] = flat.reshape(cols.shape[0], cols.shape[1], 3)
    buf = io.BytesIO()
    Image.fromarray(cols.transpose(1, 0, 2)).save(buf, "PNG")
    return buf.getvalue()


A1111 = ("a lighthouse at dusk\nNegative prompt: blurry\nSteps: 28, Sampler: DPM++ 2M, Schedule type: Karras, "
         "CFG scale: 6.5, Seed: 3141592653, Size: 832x1216, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, "
         "Version: f2.0.1v1.10.1-previous-313-g8a042934")


@pytest.mark.parametrize("mode", ["alpha", "rgb"])
@pytest.mark.parametrize("compressed", [False, True])
def test_stealth_pnginfo(mode, compressed):
    evidence = _read(_stealth_png(A1111, mode, compressed))
    ev = _one(evidence, "stealth_parameters")
    p = _params(ev)
    assert ev.details["signature"] == f"stealth_{'png' if mode == 'alpha' else 'rgb'}{'comp' if compressed else 'info'}"
    assert (p["tool"], p["seed"], p["sampler"], p["model"]) == (
        "Stable Diffusion WebUI Forge", 3141592653, "DPM++ 2M", "sd_xl_base_1.0")
    assert not [e for e in evidence if e.name == "a1111_parameters"]  # no text chunk: only the pixels carry it
    _declared(evidence, "Forge")


@pytest.mark.parametrize("mode", ["alpha", "rgb"])
def test_stealth_in_a_tall_image_reads_the_top_rows_first(mode):
    """Taller than the 152-bit header: the signature is checked on the first rows, then the whole image."""
    data = _stealth_png(A1111 * 3, mode, False, size=(24, 700))
    ev = _one(_read(data), "stealth_parameters")
    assert _params(ev)["seed"] == 3141592653 and ev.details["raw"] == A1111 * 3


def test_lsb_bit_ranges_match_the_full_streams():
    from synthtrace.provenance.stealth import _bit_range, lsb_streams

    pixels = np.random.default_rng(5).integers(0, 256, (37, 23, 4), dtype=np.uint8)
    streams = lsb_streams(pixels)  # the reference: the whole image transposed, column by column
    for mode, bits in streams.items():
        assert np.array_equal(_bit_range(pixels, mode, 0, len(bits)), bits)
        assert np.array_equal(_bit_range(pixels, mode, 100, 57), bits[100:157])


def test_stealth_novelai_json():
    comment = {"prompt": "1girl, garden", "uc": "lowres", "steps": 28, "scale": 5.0, "seed": 42,
               "sampler": "k_euler_ancestral", "width": 832, "height": 1216}
    payload = json.dumps({"Software": "NovelAI", "Source": "NovelAI Diffusion V4 F6A2D0C1",
                          "Comment": json.dumps(comment)})
    p = _params(_one(_read(_stealth_png(payload, "alpha", True, size=(128, 128))), "stealth_parameters"))
    assert (p["tool"], p["prompt"], p["negative_prompt"], p["seed"]) == ("NovelAI", "1girl, garden", "lowres", 42)


def test_no_stealth_in_plain_rgba_and_damaged_length():
    rgba = np.full((40, 40, 4), 255, np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "PNG")
    assert not [e for e in _read(buf.getvalue()) if e.name == "stealth_parameters"]
    bits = np.unpackbits(np.frombuffer(b"stealth_pnginfo" + (10**9).to_bytes(4, "big"), np.uint8))
    cols = rgba.transpose(1, 0, 2).copy()
    flat = cols[..., 3].reshape(-1)
    flat[: len(bits)] = (flat[: len(bits)] & 0xFE) | bits
    cols[..., 3] = flat.reshape(40, 40)
    with pytest.raises(MetadataError, match="claims"):
        decode_stealth(cols.transpose(1, 0, 2))


# ------------------------------------------------------------------ SwarmUI --

SWARM = {"sui_image_params": {"prompt": "a photo of a cat", "negativeprompt": "dog",
                              "model": "OfficialStableDiffusion/sd_xl_base_1.0", "seed": 1, "steps": 20,
                              "cfgscale": 7.0, "width": 1024, "height": 1024, "sampler": "euler",
                              "scheduler": "normal", "loras": ["pixel-art"], "loraweights": ["0.8"],
                              "swarm_version": "0.9.5.2"},
         "sui_extra_data": {"date": "2025-01-25", "generation_time": "4.84 sec"},
         "sui_models": [{"name": "sd_xl_base_1.0.safetensors", "param": "model", "hash": "0x31e35c80fc"}]}


def test_swarmui_png_and_jpeg():
    p = _params(_one(_read(_png_with({"parameters": json.dumps(SWARM)})), "swarmui_parameters"))
    assert (p["tool"], p["tool_version"], p["model_hash"], p["cfg_scale"]) == ("SwarmUI", "0.9.5.2", "0x31e35c80fc", 7.0)
    assert p["loras"] == [{"name": "pixel-art", "weight": 0.8}] and p["unknown"]["sui_extra_data"]["date"] == "2025-01-25"
    exif = Image.Exif()  # ImageSharp writes UserComment with the UNICODE prefix
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + json.dumps(SWARM).encode("utf-16-le")
    evidence = _read(jpeg_bytes(exif=exif), "s.jpg")
    assert _params(_one(evidence, "swarmui_parameters"))["negative_prompt"] == "dog"
    _declared(evidence, "SwarmUI")


# ------------------------------------------------------------ Easy Diffusion --

ED = {"prompt": "a watercolor fox", "negative_prompt": "text", "seed": 2203, "use_stable_diffusion_model":
      "sd-v1-5", "clip_skip": False, "use_vae_model": "vae-ft-mse", "sampler_name": "euler_a", "width": 512,
      "height": 768, "num_inference_steps": 25, "guidance_scale": 7.5, "use_lora_model": ["film", "grain"],
      "lora_alpha": [0.5, 0.25], "use_embeddings_model": None, "tiling": None, "use_face_correction": None}


def test_easy_diffusion_png_chunks():
    # sdkit save_dicts(output_format="embed"): one tEXt per key, str(value)
    evidence = _read(_png_with({k: str(v) for k, v in ED.items()}))
    assert not [e for e in evidence if e.name == "comfyui_workflow"]  # its 'prompt' is text, not a graph
    p = _params(_one(evidence, "easy_diffusion_metadata"))
    assert (p["model"], p["steps"], p["cfg_scale"], p["sampler"], p["seed"]) == ("sd-v1-5", 25, 7.5, "euler_a", 2203)
    assert p["loras"] == [{"name": "film", "weight": 0.5}, {"name": "grain", "weight": 0.25}]
    assert p["unknown"]["use_vae_model"] == "vae-ft-mse"
    _declared(evidence, "Easy Diffusion")


def test_easy_diffusion_jpeg_user_comment():
    # piexif.helper.UserComment.dump(json.dumps(metadata), encoding="unicode"): big-endian UTF-16
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + json.dumps(ED).encode("utf-16-be")
    p = _params(_one(_read(jpeg_bytes(exif=exif), "e.jpg"), "easy_diffusion_metadata"))
    assert (p["prompt"], p["negative_prompt"], p["height"]) == ("a watercolor fox", "text", 768)


# --------------------------------------------------------------- Draw Things --


def test_draw_things_xmp():
    meta = {"c": "a koi pond, ukiyo-e", "uc": "photo", "seed": 3456789, "steps": 8, "scale": 1.5,
            "sampler": "DPM++ 2M Karras", "model": "flux_1_schnell_q8p.ckpt", "size": "1024x768",
            "strength": 1, "lora": [{"file": "ukiyo_e_lora_f16.ckpt", "weight": 0.6}], "v2": {"fps": 5}}
    from xml.sax.saxutils import escape

    xmp = xmp_packet('<xmp:CreatorTool>Draw Things</xmp:CreatorTool>'
                     '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">a koi pond, ukiyo-e</rdf:li></rdf:Alt>'
                     '</dc:description>'
                     f'<exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">{escape(json.dumps(meta))}'
                     '</rdf:li></rdf:Alt></exif:UserComment>',
                     as_attribute='xmlns:exif="http://ns.adobe.com/exif/1.0/"')
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    evidence = _read(png_bytes(pnginfo=info))
    p = _params(_one(evidence, "draw_things_metadata"))
    assert (p["tool"], p["prompt"], p["negative_prompt"], p["width"], p["height"]) == (
        "Draw Things", "a koi pond, ukiyo-e", "photo", 1024, 768)
    assert p["loras"] == [{"name": "ukiyo_e_lora_f16.ckpt", "weight": 0.6}] and p["unknown"]["v2"] == {"fps": 5}
    _declared(evidence, "Draw Things")


# ---------------------------------------------------------------- Midjourney --


def test_midjourney_png_with_iptc():
    desc = "a brutalist library in fog --ar 16:9 --v 6.1 Job ID: 0b5c6e4a-1f2d-4c3b-9a8e-7d6c5b4a3f21"
    xmp = xmp_packet("<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/"
                     "trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>")
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone")
    info.add_text("Description", desc)
    info.add_itxt("XML:com.adobe.xmp", xmp)
    evidence = _read(png_bytes(pnginfo=info))
    p = _params(_one(evidence, "midjourney_description"))
    assert (p["tool"], p["prompt"], p["tool_version"]) == ("Midjourney", "a brutalist library in fog", "6.1")
    assert p["unknown"]["job_id"].startswith("0b5c6e4a") and p["unknown"]["author"] == "someone"
    iptc = _one(evidence, "digital_source_type")
    assert iptc.direction == "generated" and iptc.details["term"] == "trainedAlgorithmicMedia"
    _declared(evidence, "Midjourney")


# ---------------------------------------------------------------------- IPTC --


@pytest.mark.parametrize("term,strength", [("trainedAlgorithmicMedia", 1.0),
                                           ("compositeWithTrainedAlgorithmicMedia", 0.8)])
def test_iptc_stock_and_social_labels(term, strength):
    xmp = xmp_packet(f"<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/{term}"
                     "</Iptc4xmpExt:DigitalSourceType><Iptc4xmpExt:AISystemUsed>Imagen 3</Iptc4xmpExt:AISystemUsed>")
    evidence = _read(jpeg_bytes(xmp=xmp.encode()), "s.jpg")
    ev = _one(evidence, "digital_source_type")
    assert ev.strength == strength and ev.details["generator"] == "Imagen 3"
    assert decide(evidence).label == "declared_ai_generated"


# ---------------------------------------------------------------------- C2PA --

WRITERS = [
    ("OpenAI", {"name": "ChatGPT", "version": "1.0"}, {"name": "GPT-4o"}, "ChatGPT image generation"),
    ("Google", {"name": "Google C2PA Core Generator Library", "version": "1.0"}, {"name": "Imagen 3"},
     "Google Imagen"),
    ("Microsoft", {"name": "Microsoft Responsible AI Image Provenance"}, {"name": "Bing Image Creator"},
     "Bing Image Creator"),
]


@pytest.mark.parametrize("vendor,claim,agent,tool", WRITERS, ids=[w[0] for w in WRITERS])
def test_c2pa_generator_manifests(chain, vendor, claim, agent, tool):
    c2pa = pytest.importorskip("c2pa", reason="c2pa-python (synthtrace[c2pa]) is not installed")
    manifest = {
        "claim_generator_info": [claim], "title": "image.png",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created", "softwareAgent": agent,
                "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}]}},
            {"label": "c2pa.training-mining", "data": {"entries": {
                "c2pa.ai_generative_training": {"use": "notAllowed"}, "c2pa.data_mining": {"use": "notAllowed"}}}},
        ]}
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.chain_pem, chain.key_pem, None))
    ctx = c2pa.Context.from_dict({"verify": {"ocsp_fetch": False, "remote_manifest_fetch": False}})
    with c2pa.Builder.from_json(manifest, context=ctx) as builder:
        dst = io.BytesIO()
        builder.sign(signer, "image/png", io.BytesIO(png_bytes()), dst)
    evidence = _read(dst.getvalue())
    ev = _one(evidence, "c2pa_manifest")
    assert ev.direction == "generated" and ev.details["generator"] == tool
    assert ev.details["training_mining"] == {"c2pa.ai_generative_training": "notAllowed",
                                             "c2pa.data_mining": "notAllowed"}
    assert tool in ev.explanation and "permission, not evidence" in ev.explanation
    assert decide(evidence).label == "declared_ai_generated"


def test_c2pa_signer_names_the_tool_when_nothing_else_does(chain):
    data = sign_c2pa(chain, jpeg_bytes((64, 64)), "image/jpeg")  # agent "TestDiffusion": not a known tool
    ev = _one(_read(data, "a.jpg"), "c2pa_manifest")
    assert "generator" not in ev.details  # the test signer's organisation is no generator either


# ------------------------------------------------------------------ escaping --


def test_raw_text_is_escaped_in_the_html_report(tmp_path):
    pytest.importorskip("jinja2")
    from synthtrace.evaluation.scan_report import write_scan_report
    from synthtrace.tasks.scan import ScanOptions, scan_file

    hostile = '<script>alert(1)</script> a cat\nSteps: 20, Sampler: Euler, Seed: 1, Size: 64x64'
    path = tmp_path / "x.png"
    path.write_bytes(_png_with({"parameters": hostile}))
    result = scan_file(path, options=ScanOptions(signals=False, watermarks=False))
    ev = _one(result.evidence, "a1111_parameters")
    assert ev.details["raw"] == hostile  # kept as stored...
    out = tmp_path / "r.html"
    write_scan_report([result], out, parameters={})
    html = out.read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html  # ...and escaped where shown
