"""Manifest reading, writing and validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthtrace.errors import ManifestError
from synthtrace.io import MANIFEST_COLUMNS, Manifest, ManifestRow, read_manifest, write_manifest

ROWS = (
    ManifestRow("real/a.jpg", "real", source="camera", split="train", camera="pixel7", scene_id="s1"),
    ManifestRow("fake/b.png", "fake", source="sdxl", family="diffusion", split="train", cluster_id="3"),
    ManifestRow("fake/c, with comma.png", "fake", family="gan", split="test", mask_path="masks/c.png"),
    ManifestRow("real/d.jpg", "real", split="val"),
)


def _write(tmp_path: Path, text: str, name: str = "manifest.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_columns_order():
    assert MANIFEST_COLUMNS == (
        "path", "label", "source", "family", "split", "camera", "scene_id", "cluster_id", "mask_path",
    )  # fmt: skip


def test_round_trip(tmp_path):
    p = write_manifest(tmp_path / "sub" / "m.csv", ROWS)
    assert p.read_text().splitlines()[0] == ",".join(MANIFEST_COLUMNS)
    m = read_manifest(p)
    assert m.rows == ROWS and len(m) == 4 and list(m) == list(ROWS)
    assert m.root == (tmp_path / "sub").absolute()
    # writing what was read gives the same bytes
    p2 = write_manifest(tmp_path / "again.csv", m)
    assert p2.read_bytes() == p.read_bytes()


def test_digest_ignores_location_and_column_order(tmp_path):
    a = read_manifest(write_manifest(tmp_path / "a" / "m.csv", ROWS))
    b = read_manifest(_write(tmp_path, "label,path\nreal,x.jpg\n"))
    c = read_manifest(_write(tmp_path, "path,label,split\nx.jpg,real,\n", "c.csv"))
    assert a.digest() == read_manifest(write_manifest(tmp_path / "b" / "m.csv", ROWS)).digest()
    assert b.digest() == c.digest()
    assert a.digest() != b.digest() and len(a.digest()) == 64


def test_bom_whitespace_case_and_blank_lines(tmp_path):
    p = tmp_path / "m.csv"
    p.write_bytes("\ufeffpath, label ,split\r\n x.jpg ,FAKE,Train\r\n\r\ny.jpg,real,\r\n".encode())
    m = read_manifest(p)
    assert m.rows == (ManifestRow("x.jpg", "fake", split="train"), ManifestRow("y.jpg", "real"))


def test_queries(tmp_path):
    m = read_manifest(write_manifest(tmp_path / "m.csv", ROWS))
    assert m.labels().tolist() == [0, 1, 1, 0] and m.labels().dtype.kind == "i"
    assert len(m.where(split="train")) == 2
    assert m.where(split=["val", "test"]).column("path") == ["fake/c, with comma.png", "real/d.jpg"]
    assert len(m.where(split="train", label="fake")) == 1
    assert isinstance(m.where(split="none"), Manifest) and len(m.where(split="none")) == 0
    assert m.where(split="none").labels().shape == (0,)
    assert m.column("family") == ["", "diffusion", "gan", ""]
    assert m.path_of(ROWS[0]) == tmp_path.absolute() / "real" / "a.jpg"
    assert m.mask_of(ROWS[2]) == tmp_path.absolute() / "masks" / "c.png"
    assert m.mask_of(ROWS[0]) is None
    absolute = ManifestRow(str(tmp_path / "elsewhere.jpg"), "real")
    assert m.path_of(absolute) == tmp_path / "elsewhere.jpg"
    with pytest.raises(ValueError, match="valid columns are: path, label"):
        m.where(lable="fake")
    with pytest.raises(ValueError, match="unknown manifest column"):
        m.column("nope")


def test_missing_file(tmp_path):
    with pytest.raises(ManifestError, match="manifest file not found"):
        read_manifest(tmp_path / "none.csv")


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path, text):
    with pytest.raises(ManifestError, match="empty file, expected a header line such as: path,label"):
        read_manifest(_write(tmp_path, text))


def test_not_utf8(tmp_path):
    p = tmp_path / "m.csv"
    p.write_bytes("path,label\ncaf\u00e9.jpg,real\n".encode("latin-1"))
    with pytest.raises(ManifestError, match="UTF-8"):
        read_manifest(p)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("path,split\na.jpg,train\n", "manifest.csv row 1: missing required column(s) 'label'"),
        ("label\nreal\n", "manifest.csv row 1: missing required column(s) 'path'"),
        (
            "path,label,generator\na.jpg,fake,sdxl\n",
            "manifest.csv row 1: unknown column(s) 'generator'; valid columns are: path, label, source, family, "
            "split, camera, scene_id, cluster_id, mask_path",
        ),
        ("path,label,label\na.jpg,fake,fake\n", "manifest.csv row 1: duplicate column(s) 'label'"),
        ("path,label\na.jpg,real\nb.jpg,fake,extra\n", "manifest.csv row 3: expected 2 fields (path,label), got 3"),
        ("path,label,split\na.jpg,real,train\nb.jpg,fake\n", "manifest.csv row 3: expected 3 fields"),
        ("path,label\na.jpg,real\n ,fake\n", "manifest.csv row 3: path is empty"),
        (
            "path,label\n" + "a.jpg,real\n" * 5 + "g.jpg,fak\n",
            "manifest.csv row 7: label 'fak' is not one of: real, fake. Fix the row.",
        ),
        ("path,label\na.jpg,\n", "manifest.csv row 2: label '' is not one of: real, fake"),
        ("path,label,split\na.jpg,real,training\n", "manifest.csv row 2: split 'training' is not one of: train, val, test"),
    ],
)
def test_validation_errors(tmp_path, text, expected):
    with pytest.raises(ManifestError) as e:
        read_manifest(_write(tmp_path, text))
    assert expected in str(e.value)


def test_row_numbers_skip_nothing_but_count_blank_lines(tmp_path):
    # row numbers match the line a spreadsheet/editor shows, blank lines included
    with pytest.raises(ManifestError, match="row 4: label 'x'"):
        read_manifest(_write(tmp_path, "path,label\na.jpg,real\n\nb.jpg,x\n"))


def test_check_files(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes(b"x")
    ok = _write(tmp_path, "path,label\nimgs/a.jpg,real\n")
    assert len(read_manifest(ok, check_files=True)) == 1
    bad = _write(tmp_path, "path,label,mask_path\nimgs/a.jpg,real,\nimgs/b.jpg,fake,\n")
    assert len(read_manifest(bad)) == 2  # not checked by default
    with pytest.raises(ManifestError, match=r"manifest.csv row 3: path file not found: .*b\.jpg"):
        read_manifest(bad, check_files=True)
    no_mask = _write(tmp_path, "path,label,mask_path\nimgs/a.jpg,fake,masks/a.png\n")
    with pytest.raises(ManifestError, match="row 2: mask_path file not found"):
        read_manifest(no_mask, check_files=True)


def test_write_rejects_invalid_rows(tmp_path):
    with pytest.raises(ManifestError, match="row 3: label 'maybe'"):
        write_manifest(tmp_path / "m.csv", [ROWS[0], ManifestRow("x.jpg", "maybe")])
    assert not (tmp_path / "m.csv").exists()


def test_labels_are_numpy(tmp_path):
    m = read_manifest(write_manifest(tmp_path / "m.csv", ROWS))
    assert isinstance(m.labels(), np.ndarray)
