"""CSV manifests: the one data format every training and evaluation command reads.

A manifest is hand-edited in spreadsheets, so validation is strict and each
error names the row (counting the header as row 1, as a spreadsheet does) and
says how to fix it. Paths are relative to the manifest's folder so a dataset
folder can be moved or shared as a whole.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path

import numpy as np

from synthtrace.errors import InputError, ManifestError

__all__ = [
    "LABELS",
    "MANIFEST_COLUMNS",
    "REQUIRED_COLUMNS",
    "SPLITS",
    "Manifest",
    "ManifestRow",
    "read_licences",
    "read_manifest",
    "write_manifest",
]

MANIFEST_COLUMNS = (
    "path",
    "label",
    "source",
    "family",
    "split",
    "camera",
    "scene_id",
    "cluster_id",
    "mask_path",
)
REQUIRED_COLUMNS = ("path", "label")
LABELS = ("real", "fake")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ManifestRow:
    """One image. Optional fields are "" when absent, never None, so CSV round-trips exactly."""

    path: str
    label: str
    source: str = ""
    family: str = ""
    split: str = ""
    camera: str = ""
    scene_id: str = ""
    cluster_id: str = ""
    mask_path: str = ""


assert tuple(f.name for f in fields(ManifestRow)) == MANIFEST_COLUMNS


@dataclass(frozen=True)
class Manifest:
    """Validated rows plus the folder their relative paths are resolved against."""

    root: Path
    rows: tuple[ManifestRow, ...]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[ManifestRow]:
        return iter(self.rows)

    def path_of(self, row: ManifestRow) -> Path:
        """The image file of ``row``; absolute paths in the manifest are kept as they are."""
        return self.root / row.path  # Path("/a") / "/b" == Path("/b")

    def mask_of(self, row: ManifestRow) -> Path | None:
        """The ground-truth mask of ``row`` (for localization), or None when it has none."""
        return self.root / row.mask_path if row.mask_path else None

    def where(self, **equals: str | Collection[str]) -> Manifest:
        """Rows whose columns equal the given value, or any of a collection of values.

        ``m.where(split="train", family=["sdxl", "flux"])``.
        """
        for name in equals:
            _check_column(name)
        wanted = {k: {v} if isinstance(v, str) else set(v) for k, v in equals.items()}
        kept = tuple(r for r in self.rows if all(getattr(r, k) in vs for k, vs in wanted.items()))
        return replace(self, rows=kept)

    def labels(self) -> np.ndarray:
        """Binary targets, fake = 1, real = 0 (the positive class is "generated")."""
        return np.fromiter((r.label == "fake" for r in self.rows), dtype=np.int64, count=len(self.rows))

    def column(self, name: str) -> list[str]:
        """All values of one column, in row order."""
        _check_column(name)
        return [getattr(r, name) for r in self.rows]

    def digest(self) -> str:
        """sha256 of the canonical CSV text.

        Stored in detector bundles to record exactly which data trained them; it
        ignores the manifest's location, column order and formatting, so moving
        or re-saving a manifest does not change it.
        """
        return hashlib.sha256(_canonical_csv(self.rows).encode("utf-8")).hexdigest()


def read_manifest(path: str | os.PathLike[str], *, check_files: bool = False) -> Manifest:
    """Read and validate a manifest CSV (UTF-8, optionally with a BOM).

    With ``check_files`` every image (and mask) must exist, which catches a
    wrong working directory or a half-copied dataset before a long run starts.
    """
    p = Path(path)
    name = p.name
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{p}: manifest file not found (working directory: {Path.cwd()}). Check the path.") from None
    except OSError as exc:
        raise ManifestError(f"{p}: manifest cannot be read ({exc.strerror or exc}).") from None
    try:
        text = raw.decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"{p}: not UTF-8 text (byte {exc.start}). Save the manifest as CSV UTF-8."
        ) from None
    if not text.strip():
        raise ManifestError(
            f"{p}: empty file, expected a header line such as: {','.join(MANIFEST_COLUMNS)}. "
            "Only path and label are required."
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
        table = list(reader)
    except csv.Error as exc:
        raise ManifestError(f"{name} row {reader.line_num}: malformed CSV ({exc}). Fix the quoting.") from None
    _check_header(name, header)

    root = p.parent.absolute()
    rows: list[ManifestRow] = []
    for i, values in enumerate(table, start=2):
        if not any(v.strip() for v in values):
            continue  # blank lines, often at the end of hand-edited files
        if len(values) != len(header):
            raise ManifestError(
                f"{name} row {i}: expected {len(header)} fields ({','.join(header)}), got "
                f"{len(values)}. Quote values that contain commas, or fix the row."
            )
        data = {h: v.strip() for h, v in zip(header, values)}
        data["label"] = data["label"].lower()
        if "split" in data:
            data["split"] = data["split"].lower()
        row = ManifestRow(**data)
        problem = _row_problem(row)
        if problem:
            raise ManifestError(f"{name} row {i}: {problem}")
        if check_files:
            for col, value in (("path", row.path), ("mask_path", row.mask_path)):
                if value and not (root / value).is_file():
                    raise ManifestError(
                        f"{name} row {i}: {col} file not found: {root / value}. Paths are "
                        f"relative to the manifest's folder ({root}); fix the path or the row."
                    )
        rows.append(row)
    return Manifest(root=root, rows=tuple(rows))


def write_manifest(path: str | os.PathLike[str], rows: Iterable[ManifestRow]) -> Path:
    """Write rows as a canonical manifest (all columns, canonical order); returns the path.

    Rows are validated first so that whatever is written can be read back.
    """
    rows = tuple(rows)
    for i, row in enumerate(rows, start=2):
        problem = _row_problem(row)
        if problem:
            raise ManifestError(f"cannot write {path}: row {i}: {problem}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(_canonical_csv(rows), encoding="utf-8", newline="")
    return p


def _canonical_csv(rows: Iterable[ManifestRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(astuple(r) for r in rows)
    return buf.getvalue()


def _check_header(name: str, header: list[str]) -> None:
    valid = ", ".join(MANIFEST_COLUMNS)
    unknown = [h for h in header if h not in MANIFEST_COLUMNS]
    if unknown:
        raise ManifestError(
            f"{name} row 1: unknown column(s) {', '.join(map(repr, unknown))}; valid columns "
            f"are: {valid}. Rename or remove them."
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ManifestError(f"{name} row 1: duplicate column(s) {', '.join(map(repr, dupes))}. Keep one of each.")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManifestError(
            f"{name} row 1: missing required column(s) {', '.join(map(repr, missing))}; the "
            f"header is {','.join(header)!r}. Add them (valid columns: {valid})."
        )


def _row_problem(row: ManifestRow) -> str | None:
    """Why a row is invalid, or None; shared by reading and writing."""
    if not row.path:
        return "path is empty. Give the image path, relative to the manifest's folder."
    if row.label not in LABELS:
        return f"label {row.label!r} is not one of: {', '.join(LABELS)}. Fix the row."
    if row.split and row.split not in SPLITS:
        return f"split {row.split!r} is not one of: {', '.join(SPLITS)} (or empty). Fix the row."
    return None


def _check_column(name: str) -> None:
    if name not in MANIFEST_COLUMNS:
        raise ValueError(f"unknown manifest column {name!r}; valid columns are: {', '.join(MANIFEST_COLUMNS)}")


def read_licences(path: str | Path) -> dict[str, str]:
    """{repository: licence} from a sources CSV with ``repo`` and ``licence`` columns
    (data/real-train/sources.csv): what a bundle trained on those files records."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("repo", "licence") if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{p}: no {' or '.join(missing)} column; expected a sources CSV such as "
                                 "data/real-train/sources.csv (columns repo, licence, ...)")
            return {row["repo"]: row["licence"] for row in reader if row.get("repo")}
    except OSError as exc:
        raise InputError(f"{p}: cannot read the sources CSV ({exc.strerror or exc}); check the path") from exc
