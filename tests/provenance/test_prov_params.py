"""Generator parameters, written the way AUTOMATIC1111, ComfyUI, NovelAI and Midjourney write them."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image, PngImagePlugin

from .prov_helpers import jpeg_bytes, png_bytes, xmp_packet
from synthtrace.provenance import read_provenance
from synthtrace.provenance.metadata import MetadataError
from synthtrace.provenance.params import decode_user_comment, parse_a1111

A1111 = (
    "a lighthouse at dusk, (masterpiece:1.2), oil painting\n"
    "with dramatic clouds\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, "
    "Size: 832x1216, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, "
    'Lora hashes: "detail: 0123abcd, style: 4567ef01", Version: v1.10.1'
)


def _one(evidence, name):
    hits = [e for e in evidence if e.name == name]
    assert len(hits) == 1, [e.to_dict() for e in evidence]
    return hits[0]


def _png_with(**texts: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    return png_bytes(pnginfo=info)


def test_a1111_png_parameters():
    ev = _one(read_provenance("a.png", data=_png_with(parameters=A1111), watermarks=False), "a1111_parameters")
    d = ev.details
    assert ev.direction == "generated" and ev.source == "params" and ev.reliability == pytest.approx(0.6)
    assert d["prompt"] == "a lighthouse at dusk, (masterpiece:1.2), oil painting\nwith dramatic clouds"
    assert d["negative_prompt"] == "blurry, lowres"
    assert (d["steps"], d["sampler"], d["scheduler"], d["cfg_scale"]) == (28, "DPM++ 2M", "Karras", 6.5)
    assert (d["seed"], d["width"], d["height"]) == (3141592653, 832, 1216)
    assert (d["model"], d["model_hash"], d["version"]) == ("sd_xl_base_1.0", "31e35c80fc", "v1.10.1")
    assert d["other_settings"]["Lora hashes"] == "detail: 0123abcd, style: 4567ef01"


def test_a1111_compressed_itxt_is_read():
    info = PngImagePlugin.PngInfo()
    info.add_itxt("parameters", A1111, zip=True)
    ev = _one(read_provenance("a.png", data=png_bytes(pnginfo=info), watermarks=False), "a1111_parameters")
    assert ev.details["seed"] == 3141592653


@pytest.mark.parametrize("encode", [
    lambda t: b"UNICODE\x00" + t.encode("utf-16-be"),  # piexif.helper.UserComment.dump(encoding="unicode")
    lambda t: b"UNICODE\x00" + t.encode("utf-16-le"),
    lambda t: b"ASCII\x00\x00\x00" + t.encode("ascii"),
])
@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a1111_exif_user_comment(encode, fmt):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = encode(A1111)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, fmt, exif=exif)
    ev = _one(read_provenance("a.jpg", data=buf.getvalue(), watermarks=False), "a1111_parameters")
    assert ev.details["steps"] == 28 and ev.details["negative_prompt"] == "blurry, lowres"
    assert "EXIF UserComment" in ev.explanation


def test_plain_user_comment_is_not_a1111():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00holiday in Rome"
    evidence = read_provenance("a.jpg", data=jpeg_bytes(exif=exif), watermarks=False)
    assert not [e for e in evidence if e.direction == "generated"]
    assert _one(evidence, "generator_parameters").direction == "none"


def test_user_comment_charsets():
    assert decode_user_comment(b"UNICODE\x00" + "héllo".encode("utf-16-be")) == "héllo"
    assert decode_user_comment(b"JIS\x00\x00\x00\x00\x00" + "猫".encode("shift_jis")) == "猫"
    assert decode_user_comment(b"no prefix") == "no prefix"


def test_a1111_requires_its_format():
    with pytest.raises(MetadataError, match="AUTOMATIC1111"):
        parse_a1111("just some words")


COMFY_PROMPT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "10": {"class_type": "LoraLoader", "inputs": {"lora_name": "film.safetensors", "model": ["4", 0],
                                                   "clip": ["4", 1], "strength_model": 0.8}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in snow", "clip": ["10", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark, text", "clip": ["10", 1]}},
    "8": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["6", 0], "conditioning_2": ["6", 0]}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286, "steps": 20, "cfg": 8.0,
                                               "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                                               "model": ["10", 0], "positive": ["8", 0], "negative": ["7", 0],
                                               "latent_image": ["5", 0]}},
}
COMFY_WORKFLOW = {
    "last_node_id": 10, "version": 0.4,
    "nodes": [
        {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["sd_xl_base_1.0.safetensors"]},
        {"id": 3, "type": "KSampler", "widgets_values": [156680208700286, "randomize", 20, 8, "euler", "normal", 1]},
        {"id": 6, "type": "CLIPTextEncode", "widgets_values": ["a red fox in snow"]},
    ],
    "links": [],
}


def test_comfyui_prompt_and_workflow():
    data = _png_with(prompt=json.dumps(COMFY_PROMPT), workflow=json.dumps(COMFY_WORKFLOW))
    ev = _one(read_provenance("c.png", data=data, watermarks=False), "comfyui_workflow")
    prompt, workflow = ev.details["prompt"], ev.details["workflow"]
    assert ev.direction == "generated" and ev.details["generator"] == "ComfyUI"
    assert prompt["checkpoints"] == ["sd_xl_base_1.0.safetensors"] and prompt["loras"] == ["film.safetensors"]
    (sampler,) = prompt["samplers"]
    assert (sampler["seed"], sampler["steps"], sampler["cfg"], sampler["sampler_name"]) == (156680208700286, 20, 8.0, "euler")
    assert sampler["positive_prompt"] == ["a red fox in snow"] and sampler["negative_prompt"] == ["watermark, text"]
    assert prompt["sizes"] == [[1024, 1024]]
    assert workflow["checkpoints"] == ["sd_xl_base_1.0.safetensors"] and workflow["seeds"] == [156680208700286]
    assert workflow["node_types"]["KSampler"] == 1


def test_comfyui_invalid_json_is_an_evidence_error():
    data = _png_with(prompt="{not json", workflow=json.dumps(COMFY_WORKFLOW))
    evidence = read_provenance("c.png", data=data, watermarks=False)
    errors = [e for e in evidence if e.name == "comfyui_workflow" and e.error]
    assert len(errors) == 1 and "not valid JSON" in errors[0].error
    ok = [e for e in evidence if e.name == "comfyui_workflow" and not e.error]
    assert ok and "workflow" in ok[0].details and "prompt" not in ok[0].details


def test_comfyui_deeply_nested_json():
    evidence = read_provenance("c.png", data=_png_with(prompt="[" * 200_000), watermarks=False)
    (err,) = [e for e in evidence if e.error]
    assert "nested too deeply" in err.error or "not valid JSON" in err.error


def test_novelai():
    comment = {"prompt": "1girl, garden", "steps": 28, "height": 1216, "width": 832, "scale": 5.0,
               "uc": "lowres", "seed": 42, "sampler": "k_euler_ancestral", "noise_schedule": "karras"}
    data = _png_with(Title="AI generated image", Description="1girl, garden", Software="NovelAI",
                     Source="NovelAI Diffusion V4 F6A2D0C1", Comment=json.dumps(comment))
    ev = _one(read_provenance("n.png", data=data, watermarks=False), "novelai_metadata")
    d = ev.details
    assert (d["prompt"], d["negative_prompt"], d["seed"], d["steps"], d["cfg_scale"]) == ("1girl, garden", "lowres", 42, 28, 5.0)
    assert d["model"] == "NovelAI Diffusion V4 F6A2D0C1"
    bad = _png_with(Software="NovelAI", Comment="{oops")
    assert _one(read_provenance("n.png", data=bad, watermarks=False), "novelai_metadata").error


def test_midjourney_description_png_and_xmp():
    desc = "a brutalist library in fog --ar 16:9 --v 6.1 --style raw Job ID: 0b5c6e4a-1f2d-4c3b-9a8e-7d6c5b4a3f21"
    ev = _one(read_provenance("m.png", data=_png_with(Description=desc), watermarks=False), "midjourney_description")
    assert ev.details["job_id"] == "0b5c6e4a-1f2d-4c3b-9a8e-7d6c5b4a3f21"
    assert ev.details["flags"]["ar"] == "16:9" and ev.details["flags"]["v"] == "6.1"
    assert ev.details["prompt"].startswith("a brutalist library")
    xmp = xmp_packet(f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{desc}</rdf:li></rdf:Alt></dc:description>')
    ev = _one(read_provenance("m.jpg", data=jpeg_bytes(xmp=xmp.encode()), watermarks=False), "midjourney_description")
    assert ev.details["job_id"].startswith("0b5c6e4a")


def test_no_parameters_is_absence():
    ev = _one(read_provenance("x.png", data=png_bytes(), watermarks=False), "generator_parameters")
    assert ev.direction == "none" and ev.error is None and "proves nothing" in ev.explanation
