"""Rebuild the real-image training cache (issue 19) from data/real-train/sources.csv.

sources.csv names every file by public GitHub repository, commit and path, with
its sha256. The images are not in git: this script reads each blob from the bare
git mirrors that the ``fetch`` tool leaves in ``<mirror>/<owner>+<name>/repo``,
checks its sha256, and writes the original bytes (never re-encoded) plus a
synthtrace manifest:

    python scripts/real_data.py build --mirror /work/.mirror --out .synthtrace-cache/real-train
    python scripts/real_data.py check          # sources.csv against the dev set and reserved makers
    python scripts/real_data.py stats          # counts per label, family, maker, format, size

Rows whose note holds ``tile=x0,y0,x1,y1`` are one tile of a published grid of
samples: the build cuts that box out of the decoded original and saves it as
PNG (lossless, so the tile keeps whatever JPEG history the grid file had).

The manifest (``<out>/manifest.csv``) has the synthtrace columns: source is the
family for generated images and ``camera:<maker>`` for photos; split is train
or val from the sha256 of the original file (about 85/15, the same on every
machine, and every tile of one grid in the same split); scene_id is the first
16 hex digits of that sha256, so tiles of one grid share it.

Only the standard library and Pillow (to cut tiles) are used, so it runs
without the synthtrace package installed. A file that fails (blob missing,
sha256 differs) is listed at the end and the rest is still built (exit status 1);
a missing mirror stops the build with the list of repositories to fetch, unless
--skip-missing is given.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCES_DEFAULT = REPO_ROOT / "data" / "real-train" / "sources.csv"
DEV_DEFAULT = REPO_ROOT.parent / "shared" / "real-world-dev"
COLUMNS = (
    "repo", "commit", "path", "licence", "label", "family", "maker", "model",
    "sha256", "width", "height", "format", "note",
)
MANIFEST_COLUMNS = ("path", "label", "source", "family", "split", "camera", "scene_id", "cluster_id", "mask_path")
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
VAL_PERCENT = 15
RESERVED_REPOS = {
    "comfyanonymous/ComfyUI_examples", "Kwai-Kolors/Kolors", "d3x-at/sd-parsers", "contentauth/c2pa-rs",
}
RESERVED_MAKERS = (
    "sony", "kodak", "panasonic", "lumix", "pentax", "asahi", "epson", "hp", "hewlett", "jvc", "leica",
    "sigma", "kyocera", "gopro", "oppo", "traveler", "trust", "vtech", "jk imaging",
)
TILE = re.compile(r"tile=(\d+),(\d+),(\d+),(\d+)")


class SourcesError(Exception):
    """sources.csv is malformed; the message names the row and the fix."""


def read_sources(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourcesError(f"{path}: not found. Pass --sources data/real-train/sources.csv.") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise SourcesError(f"{path}: missing column(s) {', '.join(missing)}; the header must be {','.join(COLUMNS)}")
    rows = list(reader)
    for i, row in enumerate(rows, start=2):
        where = f"{path.name} row {i} ({row['repo']}:{row['path']})"
        if row["label"] not in ("fake", "real"):
            raise SourcesError(f"{where}: label {row['label']!r} must be fake or real")
        if row["format"] not in EXTENSIONS:
            raise SourcesError(f"{where}: format {row['format']!r} must be one of {', '.join(EXTENSIONS)}")
        if not re.fullmatch(r"[0-9a-f]{64}", row["sha256"]):
            raise SourcesError(f"{where}: sha256 must be 64 lower-case hex digits")
        if not re.fullmatch(r"[0-9a-f]{40}", row["commit"]):
            raise SourcesError(f"{where}: commit must be the full 40-digit hash")
        if row["label"] == "real" and not row["maker"]:
            raise SourcesError(f"{where}: a camera photo needs its maker")
        if not row["licence"].strip():
            raise SourcesError(f"{where}: no licence recorded; files without one must be left out")
    return rows


def tile_box(row: dict[str, str]) -> tuple[int, int, int, int] | None:
    m = TILE.search(row["note"])
    return tuple(int(v) for v in m.groups()) if m else None  # type: ignore[return-value]


def out_name(row: dict[str, str]) -> str:
    """Cache path (relative to --out), unique per original file and tile."""
    family = re.sub(r"[^a-z0-9.+-]+", "-", (row["family"] if row["label"] == "fake" else row["maker"]).lower())
    stem = row["sha256"][:16]
    box = tile_box(row)
    if box:
        return f"images/{row['label']}/{family}/{stem}_tile{box[0]}-{box[1]}-{box[2]}-{box[3]}.png"
    return f"images/{row['label']}/{family}/{stem}{EXTENSIONS[row['format']]}"


def split_of(sha256: str) -> str:
    # the sha256 is already uniform, so its leading digits give a stable ~85/15 split
    return "val" if int(sha256[:8], 16) % 100 < VAL_PERCENT else "train"


def manifest_row(row: dict[str, str]) -> dict[str, str]:
    fake = row["label"] == "fake"
    return {
        "path": out_name(row),
        "label": row["label"],
        "source": row["family"] if fake else f"camera:{row['maker']}",
        "family": row["family"],
        "split": split_of(row["sha256"]),
        "camera": "" if fake else row["maker"],
        "scene_id": row["sha256"][:16],
        "cluster_id": "",
        "mask_path": "",
    }


# ---------------------------------------------------------------- check

def _dev_set(dev: Path, mirror: Path | None = None) -> tuple[set[tuple[str, str]], set[str]]:
    """(repo, path) pairs of the dev set, and the sha256 of its originals and of every listed file a mirror holds."""
    pairs: set[tuple[str, str]] = set()
    for line in (dev / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        for i, cell in enumerate(cells[:-2]):
            if re.fullmatch(r"[\w.-]+/[\w.-]+", cell) and cells[i + 1].startswith("`"):
                pairs.add((cell, cells[i + 2]))
    shas = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (dev / "originals").iterdir() if p.is_file()}
    for repo, path in sorted(pairs) if mirror is not None else ():
        gd = git_dir(mirror, repo)
        if repo in RESERVED_REPOS or not gd.is_dir():
            continue
        got = subprocess.run(["git", "--git-dir", str(gd), "cat-file", "blob", f"HEAD:{path}"], capture_output=True)
        if got.returncode == 0:
            shas.add(hashlib.sha256(got.stdout).hexdigest())
    return pairs, shas


def problems(rows: list[dict[str, str]], dev: Path | None, mirror: Path | None = None) -> list[str]:
    """Rule violations: reserved repositories and makers, dev-set files, duplicates."""
    found = []
    pairs, shas = _dev_set(dev, mirror) if dev is not None else (set(), set())
    seen: dict[tuple[str, str], str] = {}
    for row in rows:
        where = f"{row['repo']}:{row['path']}"
        if row["repo"] in RESERVED_REPOS:
            found.append(f"{where}: repository reserved for independent evaluation")
        if (row["repo"], row["path"]) in pairs or row["sha256"] in shas:
            found.append(f"{where}: in the real-world dev set (validation only, never training)")
        if row["label"] == "real":
            words = " ".join(re.split(r"[^a-z0-9]+", f"{row['maker']} {row['model']} {row['path']}".lower()))
            hit = [m for m in RESERVED_MAKERS if re.search(rf"(^| ){m}( |$)", words)]
            if hit:
                found.append(f"{where}: reserved maker ({hit[0]})")
        key = (row["sha256"], TILE.search(row["note"]).group(0) if TILE.search(row["note"]) else "")
        if key in seen:
            found.append(f"{where}: same bytes (and tile) as {seen[key]}")
        seen[key] = where
    return found


# ---------------------------------------------------------------- build

def git_dir(mirror: Path, repo: str) -> Path:
    gd = mirror / repo.replace("/", "+") / "repo"
    return gd / ".git" if (gd / ".git").is_dir() else gd  # some snapshots arrive with a work tree


def read_blobs(gd: Path, rows: list[dict[str, str]]):
    """Yield (row, bytes or None) for each row, reading all blobs of one mirror through one git process."""
    proc = subprocess.Popen(["git", "--git-dir", str(gd), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin and proc.stdout
    try:
        for row in rows:
            proc.stdin.write(f"{row['commit']}:{row['path']}\n".encode("utf-8"))
            proc.stdin.flush()
            header = proc.stdout.readline().decode("utf-8", "replace").split()
            if not header or header[-1] == "missing":
                yield row, None
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            yield row, data
    finally:
        proc.stdin.close()
        proc.wait()


_decoded: dict[str, object] = {}  # sha256 -> decoded RGB image; tiles of one grid are consecutive rows


def write_tile(data: bytes, sha256: str, box: tuple[int, int, int, int], dest: Path) -> None:
    from PIL import Image

    im = _decoded.get(sha256)
    if im is None:
        with Image.open(io.BytesIO(data)) as opened:
            im = opened.convert("RGB")
        _decoded.clear()
        _decoded[sha256] = im
    if not (0 <= box[0] < box[2] <= im.width and 0 <= box[1] < box[3] <= im.height):
        raise ValueError(f"tile box {box} outside the {im.width}x{im.height} image")
    im.crop(box).save(dest, format="PNG")


def build(args: argparse.Namespace) -> int:
    rows = read_sources(args.sources)
    if args.skip_licence:
        rows = [r for r in rows if not any(s.lower() in r["licence"].lower() for s in args.skip_licence)]
    if args.only_repo:
        rows = [r for r in rows if r["repo"] in args.only_repo]
    found = problems(rows, args.dev if args.dev and args.dev.is_dir() else None, args.mirror)
    if found:
        print("sources.csv breaks the data rules; fix these rows first:", *found, sep="\n  ", file=sys.stderr)
        return 2
    by_repo: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_repo[row["repo"]].append(row)
    missing = sorted(repo for repo in by_repo if not git_dir(args.mirror, repo).is_dir())
    if missing:
        print(f"{len(missing)} of {len(by_repo)} repositories have no mirror under {args.mirror}. "
              "Fetch them first (fetch tool, github:<owner>/<name>):", *missing, sep="\n  ", file=sys.stderr)
        if not args.skip_missing:
            print("Or pass --skip-missing to build from the mirrors that are there.", file=sys.stderr)
            return 2
        for repo in missing:
            del by_repo[repo]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    total = sum(len(v) for v in by_repo.values())
    bad: list[str] = []
    written: list[dict[str, str]] = []
    done = fresh = 0
    tty = sys.stderr.isatty()
    for repo, repo_rows in sorted(by_repo.items()):
        for row, data in read_blobs(git_dir(args.mirror, repo), repo_rows):
            done += 1
            where = f"{repo}:{row['path']}"
            if tty and (done % 25 == 0 or done == total):
                print(f"\r[{done}/{total}] {repo}".ljust(70), end="", file=sys.stderr, flush=True)
            elif not tty and (done % 250 == 0 or done == total):
                print(f"[{done}/{total}] {repo}", file=sys.stderr, flush=True)
            if data is None:
                bad.append(f"{where}: not readable at commit {row['commit'][:12]} of the mirror (wrong path or commit, "
                           "or a blob the snapshot left out; snapshots omit files of 4 MiB or more)")
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest != row["sha256"]:
                bad.append(f"{where}: sha256 {digest[:16]}... differs from sources.csv ({row['sha256'][:16]}...)")
                continue
            dest = out / out_name(row)
            dest.parent.mkdir(parents=True, exist_ok=True)
            box = tile_box(row)
            try:
                if box:
                    if args.force or not dest.exists():
                        write_tile(data, digest, box, dest)
                        fresh += 1
                elif args.force or not dest.exists() or hashlib.sha256(dest.read_bytes()).hexdigest() != digest:
                    dest.write_bytes(data)
                    fresh += 1
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the build
                bad.append(f"{where}: {exc}")
                continue
            written.append(manifest_row(row))
    if tty:
        print(file=sys.stderr)
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, MANIFEST_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(sorted(written, key=lambda r: r["path"]))
    if args.prune and (missing or args.only_repo or args.skip_licence):
        print("--prune skipped: the build did not cover every row of sources.csv", file=sys.stderr)
    elif args.prune:
        keep = {out / r["path"] for r in written}
        stale = [p for p in (out / "images").rglob("*") if p.is_file() and p not in keep]
        for p in stale:
            p.unlink()
        print(f"pruned {len(stale)} cached file(s) that sources.csv no longer names", file=sys.stderr)
    counts = Counter((r["label"], r["split"]) for r in written)
    print(f"{len(written)} images in {out / 'manifest.csv'} ({fresh} written now, the rest already there); "
          + ", ".join(f"{k[0]}/{k[1]} {v}" for k, v in sorted(counts.items())), file=sys.stderr)
    if bad:
        print(f"{len(bad)} file(s) left out:", *bad, sep="\n  ", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- stats

def _size_bucket(w: int, h: int) -> str:
    side = min(w, h)
    for limit, name in ((512, "<512"), (1024, "512-1023"), (2048, "1024-2047")):
        if side < limit:
            return name
    return ">=2048"


def stats(args: argparse.Namespace) -> int:
    rows = read_sources(args.sources)
    print(f"{len(rows)} rows: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r["label"] for r in rows).items())))
    tables = {
        "family (fake)": Counter(r["family"] for r in rows if r["label"] == "fake"),
        "maker (real)": Counter(r["maker"] for r in rows if r["label"] == "real"),
        "format": Counter(f"{r['label']} {r['format']}" for r in rows),
        "shorter side, px": Counter(f"{r['label']} {_size_bucket(int(r['width']), int(r['height']))}" for r in rows),
        "repository": Counter(f"{r['label']} {r['repo']}" for r in rows),
        "split": Counter(f"{r['label']} {split_of(r['sha256'])}" for r in rows),
    }
    for title, counter in tables.items():
        ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        if args.markdown:
            print(f"\n| {title} | files |\n|---|---|")
            print("\n".join(f"| {key} | {n} |" for key, n in ordered))
        else:
            print(f"\n{title}:")
            print("\n".join(f"  {n:5d}  {key}" for key, n in ordered))
    return 0


def check(args: argparse.Namespace) -> int:
    rows = read_sources(args.sources)
    if not args.dev.is_dir():
        print(f"{args.dev}: no dev set here; pass --dev to check against it", file=sys.stderr)
        return 2
    found = problems(rows, args.dev, args.mirror if args.mirror.is_dir() else None)
    for line in found:
        print(line)
    print(f"{len(rows)} rows checked, {len(found)} problem(s)", file=sys.stderr)
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="real_data.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=Path, default=SOURCES_DEFAULT, help="the sources CSV (default: %(default)s)")
    ap.add_argument("--dev", type=Path, default=DEV_DEFAULT,
                    help="real-world dev set whose files must never be trained on (default: %(default)s)")
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="read the blobs from the mirrors, verify, write images + manifest.csv",
                       description="Read every file of sources.csv from the git mirrors, check its sha256, write "
                       "the original bytes (or the PNG tile) under OUT/images/ and OUT/manifest.csv. Goes on past "
                       "a bad file and lists it at the end (exit status 1).")
    b.add_argument("--mirror", type=Path, default=Path("/work/.mirror"),
                   help="folder holding <owner>+<name>/repo bare mirrors (default: %(default)s)")
    b.add_argument("--out", type=Path, default=REPO_ROOT / ".synthtrace-cache" / "real-train",
                   help="cache folder to write (default: %(default)s)")
    b.add_argument("--skip-missing", action="store_true",
                   help="build from the mirrors that exist instead of stopping when one is missing")
    b.add_argument("--skip-licence", action="append", default=[], metavar="TEXT",
                   help="leave out rows whose licence contains TEXT (case-insensitive; repeatable), "
                   "e.g. --skip-licence Hunyuan where that licence does not apply")
    b.add_argument("--only-repo", action="append", default=[], metavar="OWNER/NAME",
                   help="build only these repositories (repeatable)")
    b.add_argument("--force", action="store_true", help="rewrite files that are already in the cache")
    b.add_argument("--prune", action="store_true",
                   help="delete cached images that sources.csv no longer names (only when no mirror is missing)")
    b.set_defaults(func=build)
    s = sub.add_parser("stats", help="counts per label, family, maker, format, size, repository, split")
    s.add_argument("--markdown", action="store_true", help="print markdown tables")
    s.set_defaults(func=stats)
    c = sub.add_parser("check", help="check sources.csv against the dev set, reserved repositories and makers")
    c.add_argument("--mirror", type=Path, default=Path("/work/.mirror"),
                   help="mirrors used to hash the dev set's listed files too, where present (default: %(default)s)")
    c.set_defaults(func=check)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except SourcesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
