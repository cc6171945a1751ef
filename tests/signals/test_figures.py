import pytest

from synthtrace.signals.figures import spectrum_figure

from ._synth import rgb_texture

pytest.importorskip("matplotlib")


def test_spectrum_figure_writes_a_png(tmp_path):
    out = spectrum_figure(rgb_texture(256, 0), tmp_path / "sub" / "spec.png")
    assert out.exists()
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
