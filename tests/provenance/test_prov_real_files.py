"""The validation set of issue 20: real generator outputs and real camera JPEGs.

``../shared/real-world-dev/originals`` holds 13 generator files (``orig-ai-*``:
A1111, InvokeAI 1.x/2.x/3.x, Fooocus, ComfyUI) and 15 camera JPEGs
(``orig-cam-*``), byte-for-byte copies listed with their sources and licences in
its ``SOURCES.md``. They are used here only to check the readers, never to train
anything; the test is skipped where the set is not present.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synthtrace.provenance import read_provenance
from synthtrace.verdict import decide

ORIGINALS = Path(__file__).resolve().parents[3] / "shared" / "real-world-dev" / "originals"
if not ORIGINALS.is_dir():
    ORIGINALS = Path("/work/shared/real-world-dev/originals")
pytestmark = pytest.mark.skipif(not ORIGINALS.is_dir(), reason="the real-world dev set is not on this machine")

EXPECTED_TOOL = {"01": "AUTOMATIC1111", "02": "AUTOMATIC1111", "03": "InvokeAI", "04": "InvokeAI",
                 "05": "InvokeAI", "06": "Fooocus", "07": "ComfyUI", "08": "ComfyUI", "09": "ComfyUI",
                 "10": "ComfyUI", "11": "ComfyUI", "12": "ComfyUI", "13": "AUTOMATIC1111"}


def _files(prefix: str) -> list[Path]:
    return sorted(ORIGINALS.glob(f"{prefix}-*")) if ORIGINALS.is_dir() else []


@pytest.mark.parametrize("path", _files("orig-ai"), ids=lambda p: p.name)
def test_generator_files_are_declared_with_their_tool(path):
    evidence = read_provenance(path, watermarks=False)
    assert decide(evidence).label == "declared_ai_generated"
    tools = [e.details["tool"] for e in evidence if e.source == "params" and e.direction == "generated"]
    assert tools and all(EXPECTED_TOOL[path.stem[-2:]] in t for t in tools), tools


@pytest.mark.parametrize("path", _files("orig-cam"), ids=lambda p: p.name)
def test_camera_files_are_not_declared_ai(path):
    evidence = read_provenance(path, watermarks=False)
    assert decide(evidence).label != "declared_ai_generated"
    assert not [e for e in evidence if e.direction == "generated"]
    assert [e for e in evidence if e.name == "camera"]  # their Make/Model look like cameras


def test_the_set_is_complete():
    assert len(_files("orig-ai")) == 13 and len(_files("orig-cam")) == 15
