"""What a scaled-out scan reads: folders, manifests, paths and fsspec URLs.

Local inputs follow ``synthtrace scan`` exactly (``list_image_files``: sorted,
de-duplicated, hidden and non-image files skipped, named files kept whatever their
extension), so both engines see the same list. A URL with a scheme (``s3://``, ``gs://``,
``file://``, ...) goes through fsspec with the credentials the user's environment
already has; nothing is fetched unless the user named it.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from synthtrace.errors import InputError, UnreadableImageError
from synthtrace.io.images import IMAGE_EXTENSIONS, list_image_files, read_file_bytes

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
MANIFEST_SUFFIX = ".csv"


def is_url(path: str) -> bool:
    return bool(_URL.match(path))


def expand_inputs(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, recursive: bool = True) -> list[str]:
    """Every file to scan, as strings: local paths as ``synthtrace scan`` lists them,
    URLs fully qualified. A ``.csv`` input is a manifest: its ``path`` column, relative
    to the manifest (other columns are ignored, ``label`` is optional). Order is
    sorted and duplicates are dropped, so shards are the same on every run."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    local: list[str] = []
    found: set[str] = set()
    for raw in paths:
        s = os.fspath(raw)
        if s.lower().endswith(MANIFEST_SUFFIX):
            found.update(read_manifest_paths(s))
        elif is_url(s):
            found.update(_expand_url(s, recursive))
        else:
            local.append(s)
    if local:
        found.update(str(p) for p in list_image_files(local, recursive=recursive).images)
    return sorted(found)


def read_manifest_paths(manifest: str) -> list[str]:
    """The ``path`` column of a manifest CSV (local or URL), resolved against its folder.

    Missing files are not checked here: each becomes a failure row with the reason,
    so one stale line does not stop a million-image run.
    """
    text = _read_text(manifest)
    rows = csv.DictReader(io.StringIO(text))
    if not rows.fieldnames or "path" not in rows.fieldnames:
        raise InputError(f"{manifest}: a manifest needs a 'path' column; its header is {rows.fieldnames}. "
                         "Add a header line starting with 'path' (see DESIGN.md, Manifest).")
    out = []
    for i, row in enumerate(rows, start=2):
        p = (row.get("path") or "").strip()
        if not p:
            raise InputError(f"{manifest}, line {i}: empty path. Remove the line or fill in the path.")
        out.append(_resolve(manifest, p))
    return out


def _resolve(manifest: str, p: str) -> str:
    if is_url(p) or os.path.isabs(p):
        return p
    if is_url(manifest):
        scheme, rest = manifest.split("://", 1)
        return f"{scheme}://{PurePosixPath(rest).parent / p}"
    return str(Path(manifest).parent / p)


def _read_text(path: str) -> str:
    try:
        if is_url(path):
            import fsspec  # optional extra 'ray'

            with fsspec.open(path, "rt", encoding="utf-8") as f:
                return f.read()
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: manifest not found. Check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc}).") from None


def _expand_url(url: str, recursive: bool) -> list[str]:
    fs, root = _fs(url)
    try:
        if fs.isdir(root):
            found = fs.find(root, maxdepth=None if recursive else 1)
            return [fs.unstrip_protocol(f) for f in found
                    if PurePosixPath(f).suffix.lower() in IMAGE_EXTENSIONS
                    and not any(part.startswith(".") for part in PurePosixPath(f).relative_to(root).parts)]
        if fs.exists(root):
            return [fs.unstrip_protocol(root)]
    except OSError as exc:
        raise InputError(f"{url}: cannot list ({exc}). Check the URL and your credentials for it.") from None
    raise InputError(f"{url}: no such file or folder. Check the URL.")


def _fs(url: str):
    try:
        import fsspec  # optional extra 'ray'
    except ImportError:
        raise InputError(f"{url}: URLs need fsspec. Install it: pip install 'synthtrace[ray]'.") from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(f"{url}: no filesystem for this URL ({exc}). Install the fsspec backend it names "
                         "(e.g. s3fs for s3://, gcsfs for gs://).") from None


def fetch_bytes(path: str) -> bytes:
    """A file's bytes, local or remote; an UnreadableImageError says why not."""
    if not is_url(path):
        return read_file_bytes(path)
    import fsspec  # optional extra 'ray'

    try:
        with fsspec.open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise UnreadableImageError(f"{path}: file not found. Check the URL.") from None
    except (OSError, ValueError) as exc:
        raise UnreadableImageError(f"{path}: cannot be read ({exc}). Check the URL and your credentials.") from None
