"""Select the training images of data/real-train/sources.csv from fetched git mirrors.

This is how sources.csv was made; rerun it to check or extend the selection:

    python data/real-train/curate.py --mirror /work/.mirror

It reads every image blob of the listed repositories from the bare mirrors the
``fetch`` tool leaves (``<mirror>/<owner>+<name>/repo``), decodes it with Pillow,
and applies the rules written next to each repository below. It writes
``sources.csv`` (the kept files) and ``exclusions.csv`` (every image file that
was looked at and left out, with the reason) next to this file. The images
themselves stay out of git; ``scripts/real_data.py build`` fetches them back.

Rules that hold for every repository (issue 19):
  * the reserved repositories are never read;
  * no file listed in ../shared/real-world-dev/SOURCES.md (by repository and
    path) and no file whose bytes equal one of its originals or one of its
    listed files readable from a mirror (by sha256);
  * no photo of a reserved maker (by EXIF Make, model or file/folder name);
  * nothing whose shorter side is under 256 px (a tile cut from a grid may be
    a few pixels less), nothing that does not decode, no second copy of the
    same bytes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

Image.MAX_IMAGE_PIXELS = None  # camera files are large but trusted git blobs

HERE = Path(__file__).resolve().parent
DEV_DIR_DEFAULT = HERE.parent.parent.parent / "shared" / "real-world-dev"  # ../shared beside the checkout
COLUMNS = (
    "repo", "commit", "path", "licence", "label", "family", "maker", "model",
    "sha256", "width", "height", "format", "note",
)
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".jfif")
MIN_SIDE = 256
RESERVED_REPOS = {
    "comfyanonymous/ComfyUI_examples", "Kwai-Kolors/Kolors", "d3x-at/sd-parsers", "contentauth/c2pa-rs",
}
# Makers whose photos issue 19 reserves for independent evaluation. Matched as
# words in EXIF Make/Model and in the path; a few aliases catch brand owners.
RESERVED_MAKERS = (
    "sony", "kodak", "panasonic", "lumix", "pentax", "asahi", "epson", "hp", "hewlett", "jvc", "leica",
    "sigma", "kyocera", "gopro", "oppo", "traveler", "trust", "vtech", "jk imaging",
)


@dataclass(frozen=True)
class Blob:
    repo: str
    commit: str
    path: str
    present: bool
    sha256: str = ""
    nbytes: int = 0
    format: str = ""
    width: int = 0
    height: int = 0
    make: str = ""
    model: str = ""
    software: str = ""
    frames: int = 1
    png_text: tuple[str, ...] = ()
    error: str = ""


def git_dir(mirror: Path, repo: str) -> Path:
    gd = mirror / repo.replace("/", "+") / "repo"
    return gd / ".git" if (gd / ".git").is_dir() else gd  # some snapshots arrive with a work tree


def _clean(value: object) -> str:
    return str(value or "").replace("\x00", " ").strip()


def inventory(mirror: Path, repo: str, prefixes: tuple[str, ...] = ("",)) -> Iterator[Blob]:
    """Every image file of the mirror's HEAD under one of ``prefixes``, decoded."""
    gd = git_dir(mirror, repo)
    if not gd.is_dir():
        sys.exit(f"{gd}: no mirror of {repo}. Fetch it first (fetch tool: github:{repo}).")
    commit = subprocess.check_output(["git", "--git-dir", str(gd), "rev-parse", "HEAD"], text=True).strip()
    names = subprocess.check_output(["git", "--git-dir", str(gd), "ls-tree", "-r", "-z", "--name-only", commit])
    paths = [
        n for n in names.decode("utf-8").split("\0")
        if n.lower().endswith(IMAGE_EXT) and n.startswith(prefixes)
    ]
    proc = subprocess.Popen(["git", "--git-dir", str(gd), "cat-file", "--batch"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin and proc.stdout
    for path in paths:
        proc.stdin.write(f"{commit}:{path}\n".encode())
        proc.stdin.flush()
        header = proc.stdout.readline().decode().split()
        if header[-1] == "missing":  # blobs of 4 MiB or more are left out of snapshots
            yield Blob(repo, commit, path, present=False)
            continue
        data = proc.stdout.read(int(header[2]))
        proc.stdout.read(1)
        yield _decode(repo, commit, path, data)
    proc.stdin.close()
    proc.wait()


def _decode(repo: str, commit: str, path: str, data: bytes) -> Blob:
    sha = hashlib.sha256(data).hexdigest()
    try:
        im = Image.open(io.BytesIO(data))
        exif = im.getexif()
        fmt = "JPEG" if im.format == "MPO" else im.format  # MPO = a JPEG with extra frames appended
        text = tuple(k for k, v in im.info.items() if isinstance(v, str)) if im.format == "PNG" else ()
        blob = Blob(repo, commit, path, True, sha, len(data), fmt or "", im.size[0], im.size[1],
                    _clean(exif.get(271)), _clean(exif.get(272)), _clean(exif.get(305))[:60],
                    getattr(im, "n_frames", 1), text)
        im.load()
        return blob
    except Exception as exc:  # noqa: BLE001 - any decode failure just excludes the file
        return Blob(repo, commit, path, True, sha, len(data), error=f"does not decode ({exc.__class__.__name__})")


# ---------------------------------------------------------------- shared filters

def load_dev(dev_dir: Path) -> tuple[set[tuple[str, str]], set[str]]:
    """(repo, path) pairs and original sha256s of the developer set, never to be trained on."""
    pairs: set[tuple[str, str]] = set()
    for line in (dev_dir / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        for i, cell in enumerate(cells[:-2]):
            if re.fullmatch(r"[\w.-]+/[\w.-]+", cell) and cells[i + 1].startswith("`"):
                pairs.add((cell, cells[i + 2]))
    shas = {hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((dev_dir / "originals").iterdir())}
    return pairs, shas


def dev_blob_shas(mirror: Path, pairs: set[tuple[str, str]]) -> set[str]:
    """sha256 of every dev-set source file readable from a mirror, so copies under other paths are caught too."""
    shas = set()
    for repo, path in sorted(pairs):
        gd = git_dir(mirror, repo)
        if repo in RESERVED_REPOS or not gd.is_dir():
            continue
        got = subprocess.run(["git", "--git-dir", str(gd), "cat-file", "blob", f"HEAD:{path}"], capture_output=True)
        if got.returncode == 0:
            shas.add(hashlib.sha256(got.stdout).hexdigest())
    return shas


def reserved_maker(*texts: str) -> str:
    for text in texts:
        words = " ".join(re.split(r"[^a-z0-9]+", text.lower()))
        for maker in RESERVED_MAKERS:
            if re.search(rf"(^| ){maker}( |$)", words):
                return maker
    return ""


MAKER_ALIASES = {
    "canon": "canon", "nikon": "nikon", "olympus": "olympus", "apple": "apple", "fujifilm": "fujifilm",
    "fuji": "fujifilm", "samsung": "samsung", "htc": "htc", "minolta": "minolta", "konica": "konica",
    "casio": "casio", "ricoh": "ricoh", "sanyo": "sanyo", "nokia": "nokia", "hmd": "nokia",
    "motorola": "motorola", "lge": "lg", "lg": "lg", "blackberry": "blackberry", "reconyx": "reconyx",
    "bushnell": "bushnell", "polaroid": "polaroid", "google": "google", "jolla": "jolla",
    "parrot": "parrot", "xiaomi": "xiaomi", "huawei": "huawei", "tcl": "tcl", "oneplus": "oneplus",
    "hasselblad": "hasselblad",
}


def maker_of(make: str, path: str = "") -> str:
    for text in (make, path):
        for word in re.split(r"[^a-z0-9]+", text.lower()):
            if word in MAKER_ALIASES:
                return MAKER_ALIASES[word]
    return ""


@dataclass
class Selection:
    rows: list[dict[str, str]]
    excluded: list[dict[str, str]]
    dev_pairs: set[tuple[str, str]]
    dev_shas: set[str]
    shas: dict[str, str] = field(default_factory=dict)

    def exclude(self, b: Blob, reason: str) -> None:
        self.excluded.append({"repo": b.repo, "path": b.path, "sha256": b.sha256, "reason": reason})

    def common_check(self, b: Blob) -> str:
        """The reason the shared rules leave ``b`` out, or ""."""
        if not b.present:
            return "blob missing from the snapshot (4 MiB or more)"
        if b.error:
            return b.error
        if (b.repo, b.path) in self.dev_pairs:
            return "listed in real-world-dev/SOURCES.md (dev set)"
        if b.sha256 in self.dev_shas:
            return "same bytes as a real-world-dev original (dev set)"
        if min(b.width, b.height) < MIN_SIDE:
            return f"shorter side under {MIN_SIDE} px ({b.width}x{b.height})"
        return ""

    def add(self, b: Blob, licence: str, label: str, family: str, maker: str, model: str, note: str,
            tiles: tuple[tuple[int, int, int, int], ...] = ()) -> None:
        """Select ``b`` (or, with ``tiles``, those boxes of it) unless a shared rule leaves it out."""
        reason = self.common_check(b)
        if not reason and label == "real":
            hit = reserved_maker(b.make, b.model, b.path)
            if hit:
                reason = f"reserved maker ({hit})"
        if reason:
            self.exclude(b, reason)
            return
        here = f"{b.repo}:{b.path}"
        if b.sha256 in self.shas and not (tiles and self.shas[b.sha256] == here):
            self.exclude(b, f"same bytes as {self.shas[b.sha256]}, already selected")
            return
        self.shas[b.sha256] = here
        row = {
            "repo": b.repo, "commit": b.commit, "path": b.path, "licence": licence, "label": label,
            "family": family, "maker": maker, "model": model, "sha256": b.sha256, "width": str(b.width),
            "height": str(b.height), "format": b.format, "note": note,
        }
        if not tiles:
            self.rows.append(row)
        for x0, y0, x1, y1 in tiles:
            assert 0 <= x0 < x1 <= b.width and 0 <= y0 < y1 <= b.height, (b.path, x0, y0, x1, y1)
            self.rows.append(row | {
                "width": str(x1 - x0), "height": str(y1 - y0),
                "note": f"tile={x0},{y0},{x1},{y1} of the {b.width}x{b.height} {b.format} grid, cut to PNG by "
                        f"the build (pixels keep the grid's history); {note}",
            })


# ---------------------------------------------------------------- camera photos

def camera_note(b: Blob, extra: str = "") -> str:
    parts = ["camera JPEG, original bytes" if b.format == "JPEG" else f"camera photo as {b.format}"]
    if b.software and re.search(r"photoshop|lightroom|gimp|picasa|paint|ninja|acdsee|windows", b.software, re.I):
        parts.append(f"edited: Software={b.software!r}")
    if b.frames > 1:
        parts.append(f"{b.frames} frames (MPO); the first is the photo")
    if extra:
        parts.append(extra)
    return "; ".join(parts)


def select_digicam_corpus(sel: Selection, mirror: Path) -> None:
    """drewnoakes/digicam_corpus (CC0): folders by maker/model; some cameras at several in-camera sizes."""
    licence = "CC0-1.0 (LICENSE)"
    for b in inventory(mirror, "drewnoakes/digicam_corpus"):
        folder_maker = b.path.split("/")[0]
        maker = maker_of(b.make, folder_maker)
        if not maker and not reserved_maker(folder_maker):
            sel.exclude(b, "no camera make in EXIF or folder")
            continue
        sel.add(b, licence, "real", "camera", maker, b.model or b.path.split("/")[1], camera_note(b))


MEI_SKIP = {
    # files whose content is not a plain camera photograph, or of unknown origin
    "jpg/Android Depth Map.jpg": "depth map, not a photograph",
    "jpg/FLIR Vue Pro 640.jpg": "thermal camera",
    "jpg/FLIR iPhone device.jpg": "thermal camera",
    "jpg/FLIR.jpg": "thermal camera",
    "jpg/Noritsu Koki QSS.jpg": "film scanner (minilab), not a digital camera",
    "jpg/Issue 308.jpg": "EXIF Make '456' / Model '123': origin unknown",
    "jpg/Multiple ICC segments.jpg": "metadata test file",
    "webp/HTC Desire.webp": "WEBP copy of jpg/HTC Desire.jpg, which is in the dev set",
    "webp/Nikon D1X.webp": "WEBP copy of jpg/Nikon D1X.jpg (kept as the JPEG)",
}


def select_metadata_extractor_images(sel: Selection, mirror: Path) -> None:
    """drewnoakes/metadata-extractor-images: camera JPEGs named after the camera; test suites left out."""
    licence = 'none stated as a LICENSE file; README: "You are free to use these media files however you wish."'
    for b in inventory(mirror, "drewnoakes/metadata-extractor-images", ("jpg/", "webp/", "png/")):
        if b.path.startswith(("jpg/ImageTestSuite/", "png/")):
            sel.exclude(b, "decoder test suite / PNG test files (not camera photos)")
            continue
        if b.path in MEI_SKIP:
            sel.exclude(b, MEI_SKIP[b.path])
            continue
        name = b.path.split("/", 1)[1]
        maker = maker_of(b.make, name)
        if b.make == "Digital" and "Olympus" in name:
            maker = "olympus"  # this Olympus writes Make='Digital'
        if not maker:
            hit = reserved_maker(b.make, b.model, b.path)
            sel.exclude(b, f"reserved maker ({hit})" if hit else "no camera make in EXIF: origin unknown")
            continue
        extra = "WEBP conversion of a camera photo (recompressed copy)" if b.format == "WEBP" else ""
        if "Lightroom" in name or "Noise Ninja" in name:
            extra = "processed after capture (" + re.search(r"\((.*)\)", name).group(1) + ")"
        sel.add(b, licence, "real", "camera", maker, b.model, camera_note(b, extra))


# ---------------------------------------------------------------- generator outputs

def _cheatsheet_checkpoints(mirror: Path) -> dict[str, str]:
    gd = git_dir(mirror, "SupaGruen/StableDiffusion-CheatSheet")
    text = subprocess.check_output(["git", "--git-dir", str(gd), "show", "HEAD:src/data.js"], text=True)
    out = {}
    for obj in re.findall(r"\{[^{}]*\}", text):
        image = re.search(r'"Image":"([^"]*)"', obj)
        ckpt = re.search(r'"Checkpoint":"([^"]*)"', obj)
        if image:
            out[image.group(1)] = ckpt.group(1) if ckpt else ""
    return out


def select_cheatsheet(sel: Selection, mirror: Path) -> None:
    """SupaGruen/StableDiffusion-CheatSheet (MIT): artist-style previews, checkpoint per image in src/data.js.

    The 1024-px previews are 2x2 collages and are cut into their four tiles; img/types are single images.
    """
    licence = "MIT (LICENSE.md)"
    ckpts = _cheatsheet_checkpoints(mirror)
    for b in inventory(mirror, "SupaGruen/StableDiffusion-CheatSheet", ("img/",)):
        if b.path.startswith("img/other/"):
            sel.exclude(b, "UI screenshot")
            continue
        if b.path.startswith("img/types/"):
            sel.add(b, licence, "fake", "sd-unknown", "", "",
                    "art-media prompt example; checkpoint not stated (512x640); lossy WEBP as published")
            continue
        # each 1024-px preview is a 2x2 collage of four 512-px samples (seams at 512, checked)
        tiles = tuple(inset(x) for x in ((0, 0, 512, 512), (512, 0, 1024, 512), (0, 512, 512, 1024),
                                         (512, 512, 1024, 1024)))
        ckpt = ckpts.get(b.path.split("/")[-1], "")
        if not ckpt:
            sel.add(b, licence, "fake", "sd-unknown", "", "",
                    "artist-style preview collage; checkpoint not stated in src/data.js; lossy WEBP as published",
                    tiles)
            continue
        sel.add(b, licence, "fake", "sd1.5-finetune", "", ckpt,
                "artist-style preview collage (src/data.js names the checkpoint); lossy WEBP as published", tiles)


HUNYUAN_LICENCE = (
    "Tencent Hunyuan Community License (LICENSE.txt): use, reproduce and distribute, Territory = worldwide "
    "except the EU (s.5c: no use outside the Territory); s.5b bars using Outputs to improve another large "
    "language model; s.6d Tencent claims no rights in Outputs. A detector is neither an LLM nor a Model "
    "Derivative (s.1g). NOT licensed for use in the EU."
)


def select_hunyuandit(sel: Selection, mirror: Path) -> None:
    """Tencent/HunyuanDiT: full-size outputs of the IP-Adapter, ControlNet, LoRA and ComfyUI examples."""
    keep = {
        "ipadapter/asset/output/": ("HunyuanDiT v1.2 + IP-Adapter", "IP-Adapter output"),
        "controlnet/asset/output/": ("HunyuanDiT v1.1/1.2 + ControlNet", "ControlNet output (PNG named .jpg)"),
        "lora/asset/porcelain/inference/": ("HunyuanDiT + LoRA (porcelain)", "LoRA inference output"),
        "comfyui/hunyuan_dit_1.2_example.png": ("HunyuanDiT v1.2", "ComfyUI example output with workflow"),
        "comfyui/hunyuan_dit_1.2_controlnet_canny_example.png": (
            "HunyuanDiT v1.2 + ControlNet canny", "ComfyUI example output with workflow"),
    }
    for b in inventory(mirror, "Tencent/HunyuanDiT"):
        hit = next((v for k, v in keep.items() if b.path.startswith(k)), None)
        if hit is None:
            sel.exclude(b, "figure, screenshot, conditioning input, training data or unchecked app image")
            continue
        sel.add(b, HUNYUAN_LICENCE, "fake", "hunyuan-dit", "", hit[0], hit[1])


def inset(box: tuple[int, int, int, int], margin: int = 16, align: int = 16) -> tuple[int, int, int, int]:
    """A tile's box shrunk by ``margin`` (to stay off seams and borders), corners on the ``align`` grid.

    Keeping corners on a multiple of 16 keeps the phase of the grid file's JPEG blocks inside the tile.
    """
    x0, y0, x1, y1 = box
    up = lambda v: -(-(v + margin) // align) * align  # noqa: E731
    down = lambda v: (v - margin) // align * align  # noqa: E731
    return up(x0), up(y0), down(x1), down(y1)


# Tile seams of the FLUX.1 grids, found as the columns/rows where neighbouring pixels jump
# (median absolute difference across a band) and checked by eye.
FLUX_GRIDS = {
    "assets/dev_grid.jpg": ("FLUX.1 [dev]", "model card grid (model_cards/FLUX.1-dev.md)", (
        (0, 0, 1691, 759), (1691, 0, 3212, 759), (0, 759, 898, 1880), (898, 759, 2500, 1880),
        (2500, 759, 3212, 1880))),
    "assets/schnell_grid.jpg": ("FLUX.1 [schnell]", "model card grid (model_cards/FLUX.1-schnell.md)", (
        (0, 0, 1581, 724), (1581, 0, 3212, 724), (0, 724, 1573, 1880), (1573, 724, 2486, 1880),
        (2486, 724, 3212, 1880))),
    "assets/grid.jpg": ("FLUX.1 (variant not stated)", "README grid", (
        (0, 0, 1442, 720), (1442, 0, 2162, 1340), (2162, 0, 3502, 768), (0, 720, 743, 2002),
        (743, 720, 1442, 1340), (743, 1340, 2160, 2002), (2160, 768, 2876, 2002), (2876, 768, 3502, 2002))),
}


def select_flux(sel: Selection, mirror: Path) -> None:
    """black-forest-labs/flux: the published sample grids, cut into their tiles."""
    licence = "Apache-2.0 (LICENSE, the repository's files incl. assets/; model weights under model_licenses/)"
    for b in inventory(mirror, "black-forest-labs/flux"):
        if b.path in FLUX_GRIDS:
            model, where, boxes = FLUX_GRIDS[b.path]
            sel.add(b, licence, "fake", "flux", "", model,
                    f"{where}; tiles resized by the authors to fit the mosaic", tuple(inset(x) for x in boxes))
        elif b.path == "assets/robot.webp":
            sel.exclude(b, "conditioning input of the control/redux examples")
        else:
            sel.exclude(b, "figure, mask or docs collage")


def select_deepfloyd_if(sel: Selection, mirror: Path) -> None:
    """deep-floyd/IF: pics/dream-III is a 2x2 grid of final (stage III) samples; the rest are figures."""
    licence = ("MIT-style (LICENSE: the repository's files incl. pics/; it adds a clause on inference filters); "
               "model weights under LICENSE-MODEL (DeepFloyd IF License, non-commercial research)")
    # 551-px tiles inside a thin frame; the 'if' logo sits in each tile's bottom-right corner, so the
    # boxes stop 40 px short of it.
    boxes = ((32, 32, 496, 496), (576, 32, 1040, 496), (32, 576, 496, 1040), (576, 576, 1040, 1040))
    for b in inventory(mirror, "deep-floyd/IF"):
        if b.path == "pics/dream-III.jpg":
            sel.add(b, licence, "fake", "deepfloyd-if", "", "IF-I-XL + IF-II-L + stage III (SD x4 upscaler)",
                    "README 'dream' samples, stage III; tiles resized to 551 px by the authors; PNG named .jpg",
                    boxes)
        else:
            sel.exclude(b, "scheme, comparison figure (drawn split line), collage, stage I/II output "
                           "under 256 px, or mask")


def select_cogview4(sel: Selection, mirror: Path) -> None:
    """THUDM/CogView4: inference/img/img_{1,2,3} are the 'Effect' examples of the demo's prompts."""
    licence = "Apache-2.0 (LICENSE)"
    for b in inventory(mirror, "THUDM/CogView4"):
        if b.path.startswith("inference/img/"):
            sel.add(b, licence, "fake", "cogview4", "", "CogView4-6B (per the repository; not stated per image)",
                    "example output shown by inference/gradio_web_demo.py; lossy WEBP named .png")
        else:
            sel.exclude(b, "figure, pipeline diagram or QR code")


def select_invokeai(sel: Selection, mirror: Path) -> None:
    """invoke-ai/InvokeAI: the default style-preset preview images (256 px, model not stated)."""
    licence = "Apache-2.0 (LICENSE)"
    for b in inventory(mirror, "invoke-ai/InvokeAI", ("invokeai/app/services/style_preset_images/", ".dev_scripts/")):
        if "style_preset_images" in b.path:
            sel.add(b, licence, "fake", "unknown", "", "",
                    "InvokeAI default style-preset preview; generator not stated; resized to 256 px (Adobe XMP)")
        else:
            sel.add(b, licence, "fake", "sd1.x", "", "SD 1.4", "PLMS 50 steps, seed 42 (file name)")


def select_cartridge_ocr(sel: Selection, mirror: Path) -> None:
    """Tech4Tracing/CartridgeOCR (MIT): native phone photos of cartridge cases."""
    licence = "MIT (LICENSE)"
    for b in inventory(mirror, "Tech4Tracing/CartridgeOCR", ("imagesForTesting/", "src/scratch/")):
        if "receivedWhatsApp" in b.path:
            sel.exclude(b, "received through WhatsApp: camera unknown")
            continue
        maker = maker_of(b.make)
        if not maker:
            sel.exclude(b, "no camera make in EXIF")
            continue
        sel.add(b, licence, "real", "camera", maker, b.model, camera_note(b, "close-ups of cartridge cases"))


def select_exif_samples(sel: Selection, mirror: Path) -> None:
    """ianare/exif-samples: user-contributed camera JPEGs (CC BY-SA 4.0 per README.rst)."""
    licence = ('CC BY-SA 4.0 (README.rst: "User-contributed images will be released under the '
               'Attribution-ShareAlike 4.0 International license"; no LICENSE file)')
    skip = ("jpg/exif-org/", "jpg/orientation/", "jpg/invalid/", "jpg/xmp/", "heic/", "tiff/", "png/")
    for b in inventory(mirror, "ianare/exif-samples", ("jpg/",)):
        if b.path.startswith(skip):
            sel.exclude(b, "exif.org copies (origin and licence unclear), synthetic orientation tests, "
                           "invalid or XMP test files")
            continue
        if b.path == "jpg/tests/45-gps_ifd.jpg":
            sel.exclude(b, "Gran Turismo 5 screenshot")
            continue
        maker = maker_of(b.make, b.path.split("/")[-1])
        if not maker:
            sel.exclude(b, "no camera make in EXIF or name")
            continue
        extra = "downscaled copy (640x480)" if b.path.startswith("jpg/gps/") else ""
        if b.path.startswith("jpg/hdr/"):
            extra = "in-camera HDR on" if "YES" in b.path else "in-camera HDR off"
        sel.add(b, licence, "real", "camera", maker, b.model, camera_note(b, extra))


def select_exifr(sel: Selection, mirror: Path) -> None:
    """MikeKovarik/exifr (MIT): test fixtures; camera photos with a make, IPTC reference photos left out."""
    licence = "MIT (LICENSE)"
    for b in inventory(mirror, "MikeKovarik/exifr", ("test/fixtures/",)):
        name = b.path.split("/")[-1]
        if name.startswith("iptc-") and "photographer-example" in name or "BonTon" in name:
            sel.exclude(b, "IPTC reference photo (third-party copyright)")
            continue
        if b.make in ("DJI",) and "FLIR" in b.model:
            sel.exclude(b, "thermal camera")
            continue
        maker = maker_of(b.make)
        if not maker:
            sel.exclude(b, "no camera make in EXIF")
            continue
        extra = ""
        if "tiny" in name:
            extra = "downscaled copy of IMG_20180725_163423.jpg"
        elif maker == "parrot":
            extra = "drone camera"
        elif "depth map" in name:
            extra = "phone JPEG with a depth map in XMP"
        sel.add(b, licence, "real", "camera", maker, b.model, camera_note(b, extra))


def select_apple_coreml(sel: Selection, mirror: Path) -> None:
    """apple/ml-stable-diffusion (MIT): Core ML outputs of SD 1.4 / 1.5 / 2-base, SD 2.1-base and SDXL samples."""
    licence = "MIT (LICENSE.md)"
    families = {
        "CompVis_stable-diffusion-v1-4": ("sd1.x", "SD 1.4"),
        "runwayml_stable-diffusion-v1-5": ("sd1.x", "SD 1.5"),
        "stabilityai_stable-diffusion-2-base": ("sd2.x", "SD 2 base"),
    }
    reel = tuple((x, 0, x + 512, 512) for x in range(0, 2560, 512))
    for b in inventory(mirror, "apple/ml-stable-diffusion", ("assets/",)):
        name = b.path.split("/")[-1]
        version = re.search(r"modelVersion_(.*)\.png$", name)
        if version:
            if "computeUnit_CPU_AND_GPU" not in name:
                sel.exclude(b, "same prompt and seed as the CPU_AND_GPU file "
                               "(near duplicate from another compute unit)")
                continue
            family, model = families[version.group(1)]
            sel.add(b, licence, "fake", family, "", f"{model} (Core ML, CPU_AND_GPU)", "README sample, 512 px")
        elif name == "float16_gpu_readmereel.png":
            sel.add(b, licence, "fake", "sd2.x", "", "SD 2.1 base (Core ML float16, GPU)",
                    "README reel of five 512-px samples ('a high quality photo of a surfing dog')", reel)
        elif name.endswith("final_float16_original.png"):
            sel.add(b, licence, "fake", "sdxl", "", "SDXL base 1.0 (Core ML float16)",
                    "README mixed-bit palettization section, float16 reference output")
        elif "surfing_dog" in name or "readmereel" in name or "readme_reel" in name:
            sel.exclude(b, "palettized/other-compute-unit copy of a selected sample, reel of duplicates, "
                           "or reel starting with the scribble input")
        else:
            sel.exclude(b, "chart")


# SD.Next's model-gallery previews: most are mosaics from the model cards; only these are single images.
SDNEXT_SINGLES = {
    "IDKiro--sdxs-512-dreamshaper.jpg": ("sd1.5-finetune", "SDXS-512 DreamShaper (one-step distilled)"),
    "kandinsky-community--kandinsky-2-1.jpg": ("kandinsky", "Kandinsky 2.1"),
    "kandinsky-community--kandinsky-2-2-decoder.jpg": ("kandinsky", "Kandinsky 2.2"),
    "latent-consistency--lcm-sdxl.jpg": ("sdxl", "LCM-SDXL"),
    "ostris--Flex.1-alpha.jpg": ("flux", "Flex.1-alpha (from FLUX.1 [schnell])"),
    "salesforce--blipdiffusion.jpg": ("sd1.x", "BLIP-Diffusion"),
    "sd_xl_base_1.0.jpg": ("sdxl", "SDXL base 1.0"),
    "segmind--Segmind-Vega.jpg": ("sdxl", "Segmind Vega (distilled SDXL)"),
}


def select_sdnext(sel: Selection, mirror: Path) -> None:
    """vladmandic/automatic (SD.Next, AGPL-3.0): single-image model previews under models/Reference."""
    licence = "AGPL-3.0 (LICENSE.txt)"
    for b in inventory(mirror, "vladmandic/automatic", ("models/Reference/",)):
        name = b.path.split("/")[-1]
        if name in SDNEXT_SINGLES:
            family, model = SDNEXT_SINGLES[name]
            sel.add(b, licence, "fake", family, "", model,
                    "SD.Next model-gallery preview (likely from the model card), resized to 512 px and JPEG-compressed")
        else:
            sel.exclude(b, "mosaic of several samples, video model, duplicate of a FLUX grid, or base model unclear")


def select_xflux(sel: Selection, mirror: Path) -> None:
    """XLabs-AI/x-flux (Apache-2.0): FLUX.1 [dev] + XLabs LoRA / IP-Adapter README outputs."""
    licence = "Apache-2.0 (LICENSE; FLUX.1 [dev] weights under models_licence)"
    for b in inventory(mirror, "XLabs-AI/x-flux", ("assets/",)):
        name = b.path.split("/")[-1]
        if re.fullmatch(r"(result_\d+|furry\d|picture-[567]-rev1)\.png", name):
            model = "FLUX.1 [dev] + furry LoRA" if name.startswith("furry") else "FLUX.1 [dev] + XLabs LoRA/adapter"
            sel.add(b, licence, "fake", "flux", "", model, "README example output")
        else:
            sel.exclude(b, "banner, input photo, or strip of input + condition map + output")


def stylegan_grid(cols: int, rows: int, size: int = 256, pad: int = 2) -> tuple[tuple[int, int, int, int], ...]:
    """Boxes of torchvision's save_image grid (``pad`` px of black around every tile)."""
    return tuple((pad + c * (size + pad), pad + r * (size + pad), pad + c * (size + pad) + size,
                  pad + r * (size + pad) + size) for r in range(rows) for c in range(cols))


def select_stylegan2(sel: Selection, mirror: Path) -> None:
    """rosinality/stylegan2-pytorch (MIT): sample grids of StyleGAN2 (LSUN church, FFHQ), cut into tiles."""
    licence = "MIT (LICENSE; NVIDIA-derived CUDA ops under LICENSE-NVIDIA)"
    for b in inventory(mirror, "rosinality/stylegan2-pytorch"):
        if b.path == "doc/stylegan2-church-config-f.png":
            sel.add(b, licence, "fake", "stylegan", "", "StyleGAN2 config-f, LSUN church 256",
                    "README sample grid", stylegan_grid(4, 4))
        elif b.path == "factor_index-13_degree-5.0.png":
            sel.add(b, licence, "fake", "stylegan", "", "StyleGAN2 config-f, FFHQ 256",
                    "closed-form factorization demo: rows are the sample moved along factor 13 by -5, 0, +5",
                    stylegan_grid(10, 3))
        else:
            sel.exclude(b, "blob missing or not a sample grid")


def select_kandinsky3(sel: Selection, mirror: Path) -> None:
    """ai-forever/Kandinsky-3 (Apache-2.0): README sample outputs."""
    licence = "Apache-2.0 (LICENSE)"
    for b in inventory(mirror, "ai-forever/Kandinsky-3", ("assets/",)):
        name = b.path.split("/")[-1]
        if name.startswith("photo_") or name in ("butterly_effect.jpg", "title.jpg"):
            sel.add(b, licence, "fake", "kandinsky", "", "Kandinsky 3", "README sample, JPEG as published")
        else:
            sel.exclude(b, "architecture figure, IP-adapter or prompt-beautification collage")


def select_exif_py(sel: Selection, mirror: Path) -> None:
    """ianare/exif-py (BSD-3-Clause): test photos; most are copies of exif-samples (dropped as duplicates)."""
    licence = "BSD-3-Clause (LICENSE)"
    skip = ("tests/resources/jpg/exif-org/", "tests/resources/jpg/orientation/", "tests/resources/jpg/invalid/",
            "tests/resources/jpg/xmp/")
    for b in inventory(mirror, "ianare/exif-py", ("tests/resources/jpg/",)):
        if b.path.startswith(skip) or b.path.endswith("45-gps_ifd.jpg"):
            sel.exclude(b, "exif.org copies, synthetic orientation tests, invalid/XMP test files or a screenshot")
            continue
        maker = maker_of(b.make, b.path.split("/")[-1])
        if not maker:
            hit = reserved_maker(b.make, b.model, b.path)
            sel.exclude(b, f"reserved maker ({hit})" if hit else "no camera make in EXIF or name")
            continue
        sel.add(b, licence, "real", "camera", maker, b.model, camera_note(b))


def select_immich(sel: Selection, mirror: Path) -> None:
    """immich-app/test-assets: README says all assets are public domain (the LICENSE file is AGPL-3.0)."""
    licence = ('public domain per README.md ("All assets are public domain"); repository LICENSE file AGPL-3.0')
    for b in inventory(mirror, "immich-app/test-assets"):
        maker = maker_of(b.make)
        if b.path.startswith(("formats/jpeg/", "formats/jpg/")):
            sel.exclude(b, "copy of an albums/ file")
            continue
        if not maker:
            hit = reserved_maker(b.make, b.model)
            sel.exclude(b, f"reserved maker ({hit})" if hit else "no camera make in EXIF: source unchecked")
            continue
        extra = "resized copy" if max(b.width, b.height) <= 1000 else ""
        if b.format == "WEBP":
            extra = "resized WEBP copy of a camera photo"
        sel.add(b, licence, "real", "camera", maker, b.model, camera_note(b, extra))


def select_exiv2(sel: Selection, mirror: Path) -> None:
    """Exiv2/exiv2 (GPL-2.0): test/data camera files that still hold their image."""
    licence = "GPL-2.0-or-later (COPYING)"
    for b in inventory(mirror, "Exiv2/exiv2", ("test/data/",)):
        if b.format == "PNG":
            sel.exclude(b, "PNG test file (ImageMagick conversion)")
            continue
        maker = maker_of(b.make)
        if not maker:
            hit = reserved_maker(b.make, b.model)
            sel.exclude(b, f"reserved maker ({hit})" if hit else "no camera make in EXIF (IPTC/fuzz test file)")
            continue
        extra = "resized copy" if max(b.width, b.height) < 1600 else ""
        if b.format == "WEBP":
            extra = "WEBP copy of a camera photo"
        sel.add(b, licence, "real", "camera", maker, b.model, camera_note(b, extra))


HIDREAM_TILES = ((0, 0, 896, 1578), (896, 0, 3505, 1359), (3505, 0, 5123, 1567), (0, 1578, 896, 2485),
                 (896, 1359, 2011, 2485), (2011, 1359, 3505, 2485), (3505, 1567, 5130, 2485))


def select_hidream(sel: Selection, mirror: Path) -> None:
    """HiDream-ai/HiDream-I1 (MIT): the README mosaic of samples, cut into its seven tiles."""
    for b in inventory(mirror, "HiDream-ai/HiDream-I1"):
        sel.add(b, "MIT (LICENSE)", "fake", "hidream", "", "HiDream-I1 (variant not stated)",
                "README demo mosaic; tiles resized by the authors", tuple(inset(x) for x in HIDREAM_TILES))


def _sit_tiles() -> tuple[tuple[int, int, int, int], ...]:
    big = tuple((8 + i * 528, 8, 528 + i * 528, 528) for i in range(3))  # 512-px samples shown at 520 px
    small = tuple((8 + c * 264, y, 264 + c * 264, y + 256) for y in (544, 808) for c in range(6))
    return big + small


def select_sit(sel: Selection, mirror: Path) -> None:
    """willisma/SiT (MIT): README mosaics of class-conditional ImageNet samples (8-px black gutters)."""
    for b in inventory(mirror, "willisma/SiT"):
        sel.add(b, "MIT (LICENSE.txt)", "fake", "sit", "", "SiT-XL/2 (ImageNet 512 and 256)",
                "README sample mosaic: top row 512-px samples resized to 520 px, lower rows 256-px samples",
                _sit_tiles())


def select_latent_diffusion(sel: Selection, mirror: Path) -> None:
    """CompVis/latent-diffusion (MIT): text-to-image sample strips (six 256-px samples, 2-px gutters)."""
    licence = "MIT (LICENSE)"
    for b in inventory(mirror, "CompVis/latent-diffusion", ("assets/",)):
        if b.width == 1550 and b.height == 260:
            sel.add(b, licence, "fake", "ldm", "", "LDM-KL-8-G text-to-image (LAION-400M)",
                    "README sample strip", stylegan_grid(6, 1))
        elif b.path == "assets/txt2img-convsample.png":
            sel.add(b, licence, "fake", "ldm", "", "LDM-KL-8-G text-to-image (LAION-400M)",
                    "README sample made larger than the training size by convolutional sampling")
        else:
            sel.exclude(b, "figure, collage, autoencoder reconstruction, inpainting strip or training/input data")


def select_rudalle(sel: Selection, mirror: Path) -> None:
    """ai-forever/ru-dalle (Apache-2.0): 3x2 sample grids of ruDALL-E Malevich (autoregressive)."""
    grid = ((12, 8, 271, 267), (272, 8, 532, 267), (533, 8, 793, 267),
            (12, 268, 271, 527), (272, 268, 532, 527), (533, 268, 793, 527))
    boxes = tuple(inset(x, margin=2, align=1) for x in grid)
    for b in inventory(mirror, "ai-forever/ru-dalle", ("pics/",)):
        if b.path == "pics/malevich/rainbow-cherry-pick.png":
            sel.add(b, "Apache-2.0 (LICENSE.txt)", "fake", "ru-dalle", "", "ruDALL-E Malevich (XL)",
                    "README cherry-picked samples (about 256 px each)", boxes)
        elif b.path == "pics/malevich/anime-girl-super-resolution.png":
            sel.add(b, "Apache-2.0 (LICENSE.txt)", "fake", "ru-dalle", "", "ruDALL-E Malevich + Real-ESRGAN",
                    "README samples after the repository's super-resolution step, shown at about 256 px", boxes)
        else:
            sel.exclude(b, "tiles under 256 px, duplicate of a selected grid, chart, RGBA sticker or input photo")


def select_cameratrap(sel: Selection, mirror: Path) -> None:
    """google/cameratrapai: test_data camera-trap photos, CDLA-Permissive-1.0 per test_data/README.md."""
    licence = "CDLA-Permissive-1.0 (test_data/README.md, per image; repository code Apache-2.0)"
    originals = {"blank.jpg", "blank2.jpg", "blank3.jpg", "african_elephants.jpg", "american_black_bear.jpg",
                 "domestic_cattle.jpg", "domestic_dog.jpg", "human.jpg", "ocelot.jpg", "vehicle.jpg"}
    for b in inventory(mirror, "google/cameratrapai", ("test_data/",)):
        name = b.path.split("/")[-1]
        if name not in originals:
            sel.exclude(b, "marked 'Modified' in test_data/README.md (grey, CMYK, truncated or rotated copy)")
            continue
        if reserved_maker(b.make, b.model):
            sel.exclude(b, f"reserved maker ({reserved_maker(b.make, b.model)}; EXIF names a scanner)")
            continue
        maker = maker_of(b.make) or "unknown"
        sel.add(b, licence, "real", "camera", maker, b.model,
                camera_note(b, "camera trap" + ("; no camera make in EXIF" if maker == "unknown" else "")))


def select_opensfm(sel: Selection, mirror: Path) -> None:
    """mapillary/OpenSfM (BSD-2-Clause): the berlin and lund example photo sets (EXIF without a make)."""
    for b in inventory(mirror, "mapillary/OpenSfM", ("data/",)):
        if "/images/" not in b.path:
            sel.exclude(b, "mask")
            continue
        extra = "street-level photo set (Mapillary); EXIF has no make"
        if "/lund/" in b.path:
            extra = "photo set of one building, resized to 1024x768; EXIF has no make"
        sel.add(b, "BSD-2-Clause (LICENSE)", "real", "camera", "unknown", "", camera_note(b, extra))


def select_photoprism(sel: Selection, mirror: Path) -> None:
    """photoprism/photoprism (AGPL-3.0): example and test photos, resized and mostly exported from Photoshop."""
    licence = "AGPL-3.0 (LICENSE)"
    for b in inventory(mirror, "photoprism/photoprism", ("assets/examples/", "internal/", "frontend/tests/",
                                                         "pkg/", "docker/dummy/")):
        maker = maker_of(b.make)
        if b.make.upper().startswith("TCT"):
            maker = "tcl"  # TCT Mobile makes TCL/Alcatel phones
        if not maker:
            hit = reserved_maker(b.make, b.model)
            sel.exclude(b, f"reserved maker ({hit})" if hit else "no camera make in EXIF (screenshot, "
                           "graphic, synthetic or unknown origin)")
            continue
        sel.add(b, licence, "real", "camera", maker, b.model, camera_note(b, "resized copy as shared"))


def select_darknet(sel: Selection, mirror: Path) -> None:
    """pjreddie/darknet (public domain, 'YOLO LICENSE'): the data/ example photos with a camera make."""
    licence = 'public domain (LICENSE, "YOLO LICENSE": "Darknet is public domain. Do whatever you want with it.")'
    for b in inventory(mirror, "pjreddie/darknet", ("data/",)):
        maker = maker_of(b.make)
        if not maker:
            hit = reserved_maker(b.make, b.model)
            sel.exclude(b, f"reserved maker ({hit})" if hit else "no camera make in EXIF, painting or label sprite")
            continue
        sel.add(b, licence, "real", "camera", maker, b.model, camera_note(b, "resized copy as shared"))


def select_go_exif(sel: Selection, mirror: Path) -> None:
    """dsoprea/go-exif (MIT): the GPS test photo (a resized, GIMP-exported phone photo)."""
    for b in inventory(mirror, "dsoprea/go-exif"):
        maker = maker_of(b.make)
        if not maker:
            sel.exclude(b, "no camera make in EXIF or broken-EXIF test file")
            continue
        sel.add(b, "MIT (LICENSE)", "real", "camera", maker, b.model, camera_note(b, "resized copy"))


def select_generative_models(sel: Selection, mirror: Path) -> None:
    """Stability-AI/generative-models: README sample mosaics of SDXL and SDXL-Turbo, cut into tiles."""
    licence = ("MIT (LICENSE-CODE, the repository's only licence file for its files; model weights under "
               "model_licenses/)")
    sdxl = ((0, 0, 1024, 1021), (1024, 0, 2357, 1021), (2357, 0, 4096, 704), (0, 1021, 1024, 2048),
            (1024, 1021, 2357, 2048), (2357, 704, 3246, 2048), (3246, 704, 4096, 2048))
    turbo = tuple((x, y, x + 512, y + 512) for y in (0, 512) for x in (0, 512, 1024))
    for b in inventory(mirror, "Stability-AI/generative-models", ("assets/",)):
        if b.path == "assets/000.jpg":
            sel.add(b, licence, "fake", "sdxl", "", "SDXL (README sample mosaic; 0.9/1.0 not stated)",
                    "README mosaic; tiles resized by the authors", tuple(inset(x) for x in sdxl))
        elif b.path == "assets/turbo_tile.png":
            sel.add(b, licence, "fake", "sdxl", "", "SDXL-Turbo", "README 3x2 grid of 512-px samples", turbo)
        else:
            sel.exclude(b, "chart, evaluation figure or image-to-video input")


def select_stable_cascade(sel: Selection, mirror: Path) -> None:
    """Stability-AI/StableCascade (MIT): text-to-image figure and two regular collages, cut into tiles."""
    licence = "MIT (LICENSE; model weights under WEIGHTS_LICENSE)"
    grids = {
        "figures/text-to-image-example-penguin.jpg": tuple((x, 0, x + 1024, 1024) for x in range(0, 4096, 1024)),
        "figures/collage_2.jpg": tuple((x, y, x + 1920, y + 768) for y in (0, 768) for x in (0, 1920)),
        "figures/collage_4.jpg": tuple((x, 0, x + 768, 1920) for x in range(0, 3840, 768)),
    }
    for b in inventory(mirror, "Stability-AI/StableCascade", ("figures/",)):
        if b.path in grids:
            sel.add(b, licence, "fake", "stable-cascade", "", "Stable Cascade",
                    "README figure of text-to-image samples", tuple(inset(x) for x in grids[b.path]))
        else:
            sel.exclude(b, "irregular collage (not cut), chart, architecture figure, ControlNet/img2img strip "
                           "with inputs, or autoencoder reconstruction")


def select_pixart_sigma(sel: Selection, mirror: Path) -> None:
    """PixArt-alpha/PixArt-sigma (Apache-2.0): LoRA sample and the DMD/LCM comparison grid (256-px tiles)."""
    licence = "Apache-2.0 (LICENSE)"
    columns = ("PixArt-LCM 1 step", "PixArt-LCM 2 steps", "PixArt-LCM 4 steps", "PixArt-DMD 1 step",
               "PixArt 20 steps")
    for b in inventory(mirror, "PixArt-alpha/PixArt-sigma", ("asset/",)):
        if b.path == "asset/imgs/lora_512.png":
            sel.add(b, licence, "fake", "pixart", "", "PixArt 512 + LoRA", "README LoRA sample")
        elif b.path == "asset/imgs/dmd.png":
            for c, model in enumerate(columns):
                boxes = tuple((c * 256, y, c * 256 + 256, y + 256) for y in (30, 329, 634, 974))
                sel.add(b, licence, "fake", "pixart", "", model,
                        "README comparison grid of distilled PixArt samples (labels and prompts left out)", boxes)
        else:
            sel.exclude(b, "logo or chart")


def _white_corners(mirror: Path, b: Blob) -> bool:
    """True when all four corners are pure white: a photo rotated by hand onto a white canvas."""
    data = subprocess.run(["git", "--git-dir", str(git_dir(mirror, b.repo)), "cat-file", "blob",
                           f"{b.commit}:{b.path}"], capture_output=True, check=True).stdout
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
        w, h = rgb.size
        return all(min(rgb.getpixel(xy)) >= 250 for xy in ((1, 1), (w - 2, 1), (1, h - 2), (w - 2, h - 2)))


def select_openalpr(sel: Selection, mirror: Path) -> None:
    """openalpr/benchmarks (AGPL-3.0): end-to-end licence-plate test photos (US, EU, Brazil)."""
    licence = "AGPL-3.0 (LICENSE)"
    for b in inventory(mirror, "openalpr/benchmarks", ("endtoend/",)):
        hit = reserved_maker(b.make, b.model)
        if hit:
            sel.exclude(b, f"reserved maker ({hit})")
            continue
        if b.present and not b.error and _white_corners(mirror, b):
            sel.exclude(b, "rotated by hand onto a white canvas (white corners)")
            continue
        maker = maker_of(b.make)
        if b.make.startswith("T-Mobile"):
            maker = "t-mobile"
        if not maker:
            # without camera EXIF these may be web images (press photos, possibly renders): not provably photos
            sel.exclude(b, "no camera make in EXIF: origin unknown (could be a press image or render)")
            continue
        extra = "car / licence-plate photo"
        if b.format == "PNG":
            extra += "; camera photo stored as PNG"
        sel.add(b, licence, "real", "camera", maker, b.model, camera_note(b, extra))


def select_easyocr(sel: Selection, mirror: Path) -> None:
    """JaidedAI/EasyOCR (Apache-2.0): example photos of street signs (resized; one kept as PNG)."""
    photos = {"chinese.jpg", "french.jpg", "japanese.jpg", "korean.png", "thai.jpg"}
    for b in inventory(mirror, "JaidedAI/EasyOCR", ("examples/",)):
        if b.path.split("/")[-1] not in photos:
            sel.exclude(b, "diagram, infographic or screenshot")
            continue
        maker = maker_of(b.make) or "unknown"
        extra = "photo of a street sign, resized" + ("; camera photo stored as PNG" if b.format == "PNG" else "")
        sel.add(b, "Apache-2.0 (LICENSE)", "real", "camera", maker, b.model, camera_note(b, extra))


def select_segment_anything(sel: Selection, mirror: Path) -> None:
    """facebookresearch/segment-anything (Apache-2.0): the notebooks' example photos."""
    for b in inventory(mirror, "facebookresearch/segment-anything"):
        if not b.path.startswith("notebooks/images/"):
            sel.exclude(b, "figure or demo asset")
            continue
        sel.add(b, "Apache-2.0 (LICENSE)", "real", "camera", "unknown", "",
                camera_note(b, "resized photo without EXIF"))


CANDLE = {
    "candle-examples/examples/stable-diffusion-3/assets/stable-diffusion-3.jpg": ("sd3", "SD 3 Medium"),
    "candle-examples/examples/flux/assets/flux-robot.jpg": ("flux", "FLUX.1 (candle example)"),
    "candle-examples/examples/stable-diffusion/assets/stable-diffusion-xl.jpg": ("sdxl", "SDXL (candle example)"),
    "candle-examples/examples/wuerstchen/assets/cat.jpg": ("wuerstchen", "Wuerstchen v2"),
}


def select_candle(sel: Selection, mirror: Path) -> None:
    """huggingface/candle (MIT or Apache-2.0): README outputs of the image-generation examples."""
    licence = "MIT or Apache-2.0 (LICENSE-MIT, LICENSE-APACHE)"
    for b in inventory(mirror, "huggingface/candle", ("candle-examples/",)):
        if b.path in CANDLE:
            family, model = CANDLE[b.path]
            sel.add(b, licence, "fake", family, "", model, "example README output, JPEG as published")
        elif b.path == "candle-examples/examples/yolo-v8/assets/bike.jpg":
            sel.add(b, licence, "real", "camera", "unknown", "", camera_note(b, "resized photo without EXIF"))
        else:
            sel.exclude(b, "annotated copy of a photo, OCR test page, chart or icon")


def select_diffusers_rs(sel: Selection, mirror: Path) -> None:
    """LaurentMazare/diffusers-rs (MIT or Apache-2.0): README outputs (SD text-to-image, img2img, ControlNet)."""
    licence = "MIT or Apache-2.0 (LICENSE-MIT, LICENSE-APACHE)"
    for b in inventory(mirror, "LaurentMazare/diffusers-rs", ("media/",)):
        name = b.path.split("/")[-1]
        if name.startswith("robot"):
            sel.add(b, licence, "fake", "sd-unknown", "", "SD 1.5 or 2.1 (not stated)",
                    "README text-to-image sample")
        elif name.startswith("vermeer-out"):
            sel.add(b, licence, "fake", "sd1.x", "", "SD 1.5 + ControlNet canny (examples/controlnet uses v1_5)",
                    "README ControlNet sample (edges of a painting as the condition)")
        elif name == "out_img2img.jpg":
            sel.add(b, licence, "fake", "sd-unknown", "", "SD img2img (version not stated)",
                    "README img2img output from a sketch input")
        else:
            sel.exclude(b, "input image, edge map, or inpainting output that keeps real pixels")


def _png_parameters(mirror: Path, b: Blob) -> str:
    data = subprocess.run(["git", "--git-dir", str(git_dir(mirror, b.repo)), "cat-file", "blob",
                           f"{b.commit}:{b.path}"], capture_output=True, check=True).stdout
    with Image.open(io.BytesIO(data)) as im:
        return str(im.info.get("parameters", ""))


# stable-diffusion.cpp writes the weights file it ran into each PNG ("Unet:", "Model:" or a JSON field);
# the family follows from that name (first match wins).
SDCPP_FAMILIES = (
    ("sd3.5_large", "sd3", "SD 3.5 Large"), ("sd3_medium", "sd3", "SD 3 Medium"),
    ("v1-5-pruned", "sd1.x", "SD 1.5"), ("chroma1-radiance", "flux", "Chroma1-Radiance (FLUX.1-schnell based)"),
    ("chroma", "flux", "Chroma (FLUX.1-schnell based)"), ("kontext", "flux", "FLUX.1 Kontext [dev]"),
    ("flux1-schnell", "flux", "FLUX.1 [schnell]"), ("flux1-dev", "flux", "FLUX.1 [dev]"),
    ("flux-2-klein", "flux2", "FLUX.2 [klein]"), ("flux2-dev", "flux2", "FLUX.2 [dev]"),
    ("qwen-image-edit", "qwen-image", "Qwen-Image-Edit"), ("qwen_image_edit", "qwen-image", "Qwen-Image-Edit"),
    ("qwen-image", "qwen-image", "Qwen-Image"), ("z_image_turbo", "z-image", "Z-Image-Turbo"),
    ("z_image", "z-image", "Z-Image"), ("wan2.2", "wan", "Wan2.2 T2V A14B (single frame)"),
    ("hidream_o1", "hidream", "HiDream-O1-Image dev"), ("ideogram4", "ideogram", "ideogram4 (weights file name)"),
    ("krea-2", "krea", "Krea 2 Raw"), ("lens_turbo", "lens", "Lens turbo"), ("lens", "lens", "Lens"),
    ("longcat", "longcat", "LongCat-Image"), ("mage-flow", "mage-flow", "Mage-Flow"),
    ("ovis_image", "ovis-image", "Ovis-Image"), ("sefi", "sefi", "Sefi 5B turbo"),
    ("ernie-image-turbo", "ernie-image", "ERNIE-Image turbo"), ("ernie-image", "ernie-image", "ERNIE-Image"),
    ("anima", "anima", "Anima preview"), ("boogu", "boogu", "Boogu Image"),
)
# quantization ladders of one prompt and seed: keep the ends, leave the near duplicates in between
SDCPP_SKIP = {"assets/q4_1.png", "assets/q5_0.png", "assets/q5_1.png", "assets/q8_0.png",
              "assets/flux/flux1-dev-q3_k.png", "assets/flux/flux1-dev-q4_0.png", "assets/flux/flux1-dev-q4_k.png",
              "assets/z_image/q3_K.png", "assets/z_image/q4_0.png", "assets/z_image/q4_K.png",
              "assets/z_image/q5_0.png",
              "assets/z_image/q6_K.png"}


def select_sdcpp(sel: Selection, mirror: Path) -> None:
    """leejet/stable-diffusion.cpp (MIT): docs outputs of many model families, weights named in the PNG text."""
    licence = "MIT (LICENSE)"
    for b in inventory(mirror, "leejet/stable-diffusion.cpp", ("assets/",)):
        if "photomaker_examples" in b.path or b.path.startswith("assets/control"):
            sel.exclude(b, "reference photo or control input")
            continue
        if b.path in SDCPP_SKIP:
            sel.exclude(b, "middle of a quantization ladder (same prompt and seed as a kept file)")
            continue
        if not b.present or b.error:
            sel.exclude(b, sel.common_check(b))
            continue
        params = _png_parameters(mirror, b).lower() if b.format == "PNG" else ""
        # only the weights-file names, so that words of the prompt cannot pick the family
        weights = " ".join(re.findall(r'(?:unet|model|diffusion_model)"?\s*[:=]\s*"?([^,"\n]+)', params))
        hit = next(((f, m) for key, f, m in SDCPP_FAMILIES if key in weights), None)
        if hit is None and b.path.startswith("assets/flux/flux1-dev"):
            hit = ("flux", "FLUX.1 [dev] (docs/flux.md)")
        if hit is None and b.path.startswith("assets/flux/flux1-schnell"):
            hit = ("flux", "FLUX.1 [schnell] (docs/flux.md)")
        if hit is None and "kontext" in b.path:
            hit = ("flux", "FLUX.1 Kontext [dev] (docs/kontext.md)")
        if hit is None and "chroma" in b.path:
            hit = ("flux", "Chroma v40 (FLUX.1-schnell based; docs/chroma.md)")
        if hit is None and b.path in ("assets/a lovely cat.png", "assets/f16.png", "assets/f32.png",
                                      "assets/q4_0.png", "assets/img2img_output.png"):
            hit = ("sd1.x", "SD 1.x (docs/sd.md; version not stated)")
        if hit is None:
            sel.exclude(b, "model not named in the file or docs")
            continue
        quant = re.search(r"(q\d_[0-9a-z]+|bf16|f16|f32)", b.path.split("/")[-1].lower())
        sel.add(b, licence, "fake", hit[0], "", hit[1] + (f" ({quant.group(1)})" if quant else ""),
                "docs output of stable-diffusion.cpp" + (" (an edit of the FLUX.1 [dev] sample)"
                                                          if "edit" in b.path or "kontext" in b.path else ""))


def select_cloneofsimo_lora(sel: Selection, mirror: Path) -> None:
    """cloneofsimo/lora (Apache-2.0): README outputs of SD 1.5 + LoRA (README trains on runwayml v1-5)."""
    licence = "Apache-2.0 (LICENSE)"
    singles = {"disney_lora.jpg", "lion_illust.jpg", "lora_just_text_encoder.jpg", "lora_just_unet.jpg",
               "lora_with_clip_and_illust.jpg", "pop_art.jpg"}
    grids = {
        "lora_pti_example.jpg": tuple(
            (x, y, x + 512, y + 512) for y in range(0, 1536, 512) for x in range(0, 2048, 512)),
        "lora_with_clip_4x4_training_progress.jpg": tuple(
            (x, y, x + 512, y + 512) for y in range(0, 2048, 512) for x in range(0, 2048, 512)),
        "lora_some_tweaks.jpg": ((0, 0, 512, 512), (512, 0, 1024, 512)),
    }
    model = "SD 1.5 + LoRA"
    for b in inventory(mirror, "cloneofsimo/lora", ("contents/",)):
        name = b.path.split("/")[-1]
        if name in singles:
            sel.add(b, licence, "fake", "sd1.x", "", model, "README LoRA sample")
        elif name in grids:
            sel.add(b, licence, "fake", "sd1.x", "", model, "README grid of 512-px LoRA samples", grids[name])
        else:
            sel.exclude(b, "input photo or painting, mask, labelled chart, or inpainting that keeps real pixels")


SKIMAGE_PHOTOS = {
    "src/_skimage2/data/chelsea.png": "CC0 (data/_fetchers.py: 'CC0 by the photographer (Stefan van der Walt)')",
    "src/_skimage2/data/coffee.png": "CC0 (data/_fetchers.py: 'CC0 by the photographer (Rachel Michetti)')",
    "src/_skimage2/data/rocket.jpg": "public domain (data/_fetchers.py: SpaceX photo 'released in the public domain')",
    "src/_skimage2/data/astronaut.png":
        "public domain (data/_fetchers.py: NASA photo, 'released into the public domain')",
}


def select_skimage(sel: Selection, mirror: Path) -> None:
    """scikit-image/scikit-image: the sample photographs whose licence the data module states."""
    for b in inventory(mirror, "scikit-image/scikit-image", ("src/_skimage2/data/",)):
        if b.path not in SKIMAGE_PHOTOS:
            sel.exclude(b, "synthetic, microscopy, astronomy, texture or test image")
            continue
        extra = "sample photo, resized; camera photo stored as PNG" if b.format == "PNG" else "sample photo, resized"
        sel.add(b, SKIMAGE_PHOTOS[b.path], "real", "camera", "unknown", "", camera_note(b, extra))


# demo mosaic: each image carries a size label in its top-left corner and a caption strip below it,
# so the boxes start 48 px lower than the image top and stop at the caption
LUMINA_TILES = ((23, 19, 414, 800), (422, 19, 1166, 390), (422, 439, 781, 800), (795, 439, 1166, 800),
                (1177, 19, 1568, 800), (23, 842, 414, 1232), (422, 842, 1166, 1232), (1177, 842, 1568, 1232))


def select_lumina_t2x(sel: Selection, mirror: Path) -> None:
    """Alpha-VLLM/Lumina-T2X (MIT): the README demo mosaic of Lumina text-to-image samples, cut into tiles."""
    for b in inventory(mirror, "Alpha-VLLM/Lumina-T2X", ("assets/",)):
        if b.path == "assets/images/demo_image.png":
            boxes = tuple(inset((x0, y0 + 48, x1, y1)) for x0, y0, x1, y1 in LUMINA_TILES)
            sel.add(b, "MIT (LICENSE)", "fake", "lumina", "", "Lumina-T2X / Lumina-Next text-to-image (README demo)",
                    "README demo mosaic; samples of 1-2K px shown at 350-750 px (labels and captions left out)",
                    boxes)
        else:
            sel.exclude(b, "figure, logo, chart or resolution-extrapolation comparison grid with labels")


# docs/Model Support.md and Obscure Model Support.md: one prompt (a cat holding a sign on a road), three
# seeds per base model, shown side by side; "All generations are done on the base model of the relevant class".
SWARM_MODELS = {
    "auraflow-02": ("auraflow", "AuraFlow v0.2"), "cascade": ("stable-cascade", "Stable Cascade"),
    "cosmos-predict2-14b": ("cosmos", "Cosmos-Predict2 14B text-to-image"), "ernie": ("ernie-image", "ERNIE-Image"),
    "flux-dev": ("flux", "FLUX.1 [dev]"), "flux-schnell": ("flux", "FLUX.1 [schnell]"), "flux2": ("flux2", "FLUX.2"),
    "hidream-i1-dev": ("hidream", "HiDream-I1 dev"), "hidreamo1": ("hidream", "HiDream-O1"),
    "hy-img-21": ("hunyuan-image", "HunyuanImage 2.1"), "krea2": ("krea", "Krea 2"), "lens": ("lens", "Lens"),
    "pixart-sigma-xl-2": ("pixart", "PixArt-Sigma XL 2"), "qwen-image": ("qwen-image", "Qwen-Image"),
    "sana-1600m": ("sana", "Sana 1600M 1024"), "sd15": ("sd1.x", "SD 1.5"), "sd35l": ("sd3", "SD 3.5 Large"),
    "sd35m": ("sd3", "SD 3.5 Medium"), "sd3m": ("sd3", "SD 3 Medium"), "sdxl": ("sdxl", "SDXL base 1.0"),
    "zimage": ("z-image", "Z-Image"),
}


def select_swarmui(sel: Selection, mirror: Path) -> None:
    """mcmonkeyprojects/SwarmUI (MIT): the model-support docs' side-by-side samples, cut into their tiles."""
    for b in inventory(mirror, "mcmonkeyprojects/SwarmUI", ("docs/images/models/",)):
        stem = b.path.split("/")[-1].rsplit(".", 1)[0]
        if stem not in SWARM_MODELS:
            sel.exclude(b, "model not listed")
            continue
        family, model = SWARM_MODELS[stem]
        if family == "hunyuan-image":
            # the generator's own licence also speaks about outputs; say so, so that --skip-licence Hunyuan works
            licence = ("MIT (LICENSE.txt); the model is under the Tencent Hunyuan Community License "
                       "(no rights claimed in outputs; not licensed in the EU)")
        else:
            licence = "MIT (LICENSE.txt)"
        note = "docs sample of the base model (same prompt for every model)"
        if b.present and b.width == 3 * b.height:  # three samples side by side
            side = b.height
            boxes = tuple(inset((i * side, 0, (i + 1) * side, side)) for i in range(3))
            sel.add(b, licence, "fake", family, "", model, note + ", one of three seeds", boxes)
        else:
            sel.add(b, licence, "fake", family, "", model, note)


SELECTORS: dict[str, Callable[[Selection, Path], None]] = {
    "drewnoakes/digicam_corpus": select_digicam_corpus,
    "drewnoakes/metadata-extractor-images": select_metadata_extractor_images,
    "SupaGruen/StableDiffusion-CheatSheet": select_cheatsheet,
    "Tencent/HunyuanDiT": select_hunyuandit,
    "black-forest-labs/flux": select_flux,
    "deep-floyd/IF": select_deepfloyd_if,
    "THUDM/CogView4": select_cogview4,
    "invoke-ai/InvokeAI": select_invokeai,
    "Tech4Tracing/CartridgeOCR": select_cartridge_ocr,
    "ianare/exif-samples": select_exif_samples,
    "MikeKovarik/exifr": select_exifr,
    "apple/ml-stable-diffusion": select_apple_coreml,
    "vladmandic/automatic": select_sdnext,
    "XLabs-AI/x-flux": select_xflux,
    "rosinality/stylegan2-pytorch": select_stylegan2,
    "ai-forever/Kandinsky-3": select_kandinsky3,
    "ianare/exif-py": select_exif_py,
    "immich-app/test-assets": select_immich,
    "Exiv2/exiv2": select_exiv2,
    "HiDream-ai/HiDream-I1": select_hidream,
    "willisma/SiT": select_sit,
    "CompVis/latent-diffusion": select_latent_diffusion,
    "ai-forever/ru-dalle": select_rudalle,
    "google/cameratrapai": select_cameratrap,
    "mapillary/OpenSfM": select_opensfm,
    "photoprism/photoprism": select_photoprism,
    "pjreddie/darknet": select_darknet,
    "dsoprea/go-exif": select_go_exif,
    "Stability-AI/generative-models": select_generative_models,
    "Stability-AI/StableCascade": select_stable_cascade,
    "PixArt-alpha/PixArt-sigma": select_pixart_sigma,
    "openalpr/benchmarks": select_openalpr,
    "JaidedAI/EasyOCR": select_easyocr,
    "facebookresearch/segment-anything": select_segment_anything,
    "huggingface/candle": select_candle,
    "LaurentMazare/diffusers-rs": select_diffusers_rs,
    "leejet/stable-diffusion.cpp": select_sdcpp,
    "cloneofsimo/lora": select_cloneofsimo_lora,
    "scikit-image/scikit-image": select_skimage,
    "Alpha-VLLM/Lumina-T2X": select_lumina_t2x,
    "mcmonkeyprojects/SwarmUI": select_swarmui,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"), help="folder of fetched mirrors")
    ap.add_argument("--dev", type=Path, default=DEV_DIR_DEFAULT, help="the real-world dev set (to exclude)")
    ap.add_argument("--out", type=Path, default=HERE, help="where sources.csv and exclusions.csv go")
    ap.add_argument("--only", nargs="*", default=None, help="repositories to select from (default: all)")
    args = ap.parse_args(argv)
    assert not RESERVED_REPOS & set(SELECTORS)
    pairs, shas = load_dev(args.dev)
    shas |= dev_blob_shas(args.mirror, pairs)
    sel = Selection([], [], pairs, shas)
    for repo, fn in SELECTORS.items():
        if args.only is None or repo in args.only:
            n0, e0 = len(sel.rows), len(sel.excluded)
            fn(sel, args.mirror)
            print(f"{repo}: {len(sel.rows) - n0} kept, {len(sel.excluded) - e0} left out", file=sys.stderr)
    sel.rows.sort(key=lambda r: (r["label"], r["repo"], r["path"], r["note"]))
    with open(args.out / "sources.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(sel.rows)
    with open(args.out / "exclusions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ("repo", "path", "sha256", "reason"), lineterminator="\n")
        w.writeheader()
        w.writerows(sorted(sel.excluded, key=lambda r: (r["repo"], r["path"])))
    print(f"{len(sel.rows)} files in sources.csv, {len(sel.excluded)} in exclusions.csv", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
