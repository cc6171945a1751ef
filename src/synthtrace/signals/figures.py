"""Figure of the residual spectrum and autocorrelation (optional "report" extra).

matplotlib is imported inside the function with the Agg backend, so the rest of
``synthtrace.signals`` works without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .residual import noise_residual
from .spectrum import autocorrelation, power_spectrum


def spectrum_figure(rgb: np.ndarray, out_path: str | Path) -> Path:
    """Write a PNG: log power spectrum of the residual (left) and its autocorrelation (right).

    Grid frequencies k/8 cycles/pixel are marked with circles on the spectrum,
    and lags that are multiples of 8 with ticks on the autocorrelation, so a
    reader can see whether peaks sit on the up-sampling/JPEG grid.
    """
    try:
        import matplotlib  # optional extra 'report'

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # optional extra 'report'
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("spectrum_figure needs matplotlib: pip install 'synthtrace[report]'") from e
    spec = power_spectrum(noise_residual(rgb))
    t = spec.tile
    power = np.fft.fftshift(spec.power)
    ac = np.fft.fftshift(autocorrelation(spec.power))
    lag = min(32, t // 2)
    c = t // 2
    ac_view = ac[c - lag : c + lag + 1, c - lag : c + lag + 1].copy()
    ac_view[lag, lag] = np.nan  # zero lag is 1 by construction and hides the rest

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.6))
    half_bin = 0.5 / t  # imshow extents are pixel edges; bin centres sit at k / t
    ext = (-0.5 - half_bin, 0.5 - half_bin, 0.5 - half_bin, -0.5 - half_bin)
    im1 = a1.imshow(np.log10(power + 1e-12), cmap="magma", extent=ext)
    ks = np.arange(-4, 4) / 8
    gx, gy = np.meshgrid(ks, ks)
    a1.scatter(gx.ravel(), gy.ravel(), s=60, facecolors="none", edgecolors="cyan", linewidths=0.7)
    a1.set_title(f"log10 power of the noise residual ({spec.n_tiles} tiles of {t} px)")
    a1.set_xlabel("horizontal frequency (cycles/pixel)")
    a1.set_ylabel("vertical frequency (cycles/pixel)")
    fig.colorbar(im1, ax=a1, fraction=0.046)
    im2 = a2.imshow(ac_view, cmap="coolwarm", extent=(-lag - 0.5, lag + 0.5, lag + 0.5, -lag - 0.5))
    ticks = np.arange(-(lag // 8) * 8, lag + 1, 8)
    a2.set_xticks(ticks)
    a2.set_yticks(ticks)
    a2.grid(True, color="k", alpha=0.25, linewidth=0.5)
    a2.set_title("autocorrelation of the residual (zero lag hidden)")
    a2.set_xlabel("horizontal lag (pixels)")
    a2.set_ylabel("vertical lag (pixels)")
    fig.colorbar(im2, ax=a2, fraction=0.046)
    fig.tight_layout()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out
