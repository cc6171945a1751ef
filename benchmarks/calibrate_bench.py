"""Offline calibration of the built-in benchmark's per-generator residual gains.

Prints the FINGERPRINT_GAIN table frozen in ``synthtrace/bench/build.py``: for each
generator, the fingerprint gain at which its fakes' mean JPEG file size
(quality 85-98, the default build's encoder, standard difficulty) equals that of
the real images of the same scenes. File
size must not reveal the label (see the shortcut check).

    python benchmarks/calibrate_bench.py [--scenes 60] [--size 128]
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from PIL import Image

from synthtrace.bench.build import DIFFICULTY, FAKE_NOISE_GAIN, to_uint8
from synthtrace.bench.cameras import CAMERAS, SEEN_CAMERAS, box_down2, capture
from synthtrace.bench.generators import ALL_GENERATORS, generate
from synthtrace.bench.scenes import render_scene
from synthtrace.bench.seeding import stable_seed

GAINS = (0.2, 0.4, 0.7, 1.0, 1.5, 2.0)


def encoded_size(img: np.ndarray, quality: int, encode: str) -> int:
    buf = io.BytesIO()
    if encode == "png":
        Image.fromarray(to_uint8(img)).save(buf, format="PNG", compress_level=1)
    else:
        Image.fromarray(to_uint8(img)).save(buf, format="JPEG", quality=quality)
    return len(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--encode", choices=("jpeg", "png"), default="jpeg")
    args = ap.parse_args()
    amplitude = DIFFICULTY["standard"]["amplitude"]
    table = {}
    for gen in ALL_GENERATORS:
        real_sizes, fake_sizes = [], {g: [] for g in GAINS}
        for i in range(args.scenes):
            seed = stable_seed("calibrate", i)  # the same scenes for every generator
            rng = np.random.default_rng(seed)
            scene = box_down2(render_scene(int(rng.integers(2**31)), 2 * args.size))
            quality = int(rng.integers(85, 99))
            cam = CAMERAS[SEEN_CAMERAS[i % len(SEEN_CAMERAS)]]
            real_sizes.append(encoded_size(capture(scene, cam, rng), quality, args.encode))
            state = rng.bit_generator.state
            for g in GAINS:
                rng.bit_generator.state = state  # same draws for every gain
                fake_sizes[g].append(encoded_size(generate(scene, gen, rng, amplitude * g, FAKE_NOISE_GAIN), quality, args.encode))
        target = np.mean(real_sizes)
        means = np.array([np.mean(fake_sizes[g]) for g in GAINS])
        # File size grows monotonically but not linearly with the gain (PNG
        # especially): interpolate on the measured curve.
        gain = float(np.interp(target, means, GAINS))
        table[gen.name] = round(gain, 3)
        print(f"{gen.name:16s} real {target:8.0f} B  fake@{GAINS} {np.round(means).astype(int)}  → gain {gain:.3f}", flush=True)
    print(f'\nFINGERPRINT_GAIN["{args.encode}"] = {{')
    for name, gain in table.items():
        print(f'    "{name}": {gain},')
    print("}")


if __name__ == "__main__":
    main()
