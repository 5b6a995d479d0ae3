"""A feed folder's files: which feed each belongs to, regular files only, encodings.

`discover_feeds` lists a feed directory (`NAME.csv`, `.txt`/`.psv` (pipe-delimited), `.tsv`
(tab-delimited), each also gzipped, `.parquet`, `.xlsx`, files named `NAME_<anything>`
with those endings, or a folder `NAME/` of such files: monthly drops) without opening a
file: a feed's entry that is not a regular file is an InputError (`check_regular_file`).
`parse_encoding_options` turns `--encoding` into the encodings mapping `ingest` takes.
"""

from __future__ import annotations

import codecs
import errno
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from data_contracts import FeedContract, load_contracts
from ecm.errors import InputError

TEXT_SUFFIXES = {
    ".csv": ",",
    ".csv.gz": ",",
    ".txt": "|",
    ".txt.gz": "|",
    ".psv": "|",
    ".psv.gz": "|",
    ".tsv": "\t",
    ".tsv.gz": "\t",
}
PARQUET_SUFFIXES = (".parquet",)
EXCEL_SUFFIXES = (".xlsx",)
EXCEL_LOCK_PREFIX = "~$"
"""Excel's lock file beside a workbook open in Excel (`~$eligibility.xlsx`): no feed file."""


def suffix_of(path: Path) -> str | None:
    """The feed-file ending of `path` (`.csv.gz`, `.parquet`: a key of TEXT_SUFFIXES, or a
    Parquet or Excel suffix), None for any other file and for Excel's lock files."""
    name = path.name.lower()
    if name.startswith(EXCEL_LOCK_PREFIX):
        return None
    for suffix in (
        *sorted(TEXT_SUFFIXES, key=len, reverse=True),
        *PARQUET_SUFFIXES,
        *EXCEL_SUFFIXES,
    ):
        if name.endswith(suffix):
            return suffix
    return None


def _stem(path: Path) -> str:
    suffix = suffix_of(path) or path.suffix
    return path.name[: len(path.name) - len(suffix)].lower()


def relative_to_input(path: Path, input_dir: Path) -> str:
    """A feed file's path relative to the input folder (its rows' `_source_file`)."""
    return str(path.relative_to(input_dir)) if path.is_relative_to(input_dir) else str(path)


@dataclass(frozen=True)
class FeedFiles:
    """The files that make up one feed in a feed directory."""

    feed: str
    files: tuple[Path, ...]


@dataclass
class Discovery:
    """What a feed directory holds: files per feed, and what matched no feed."""

    feeds: dict[str, FeedFiles] = field(default_factory=dict)
    ignored: list[Path] = field(default_factory=list)


def discover_feeds(input_dir: Path, contracts: dict[str, FeedContract]) -> Discovery:
    """Find each feed's files; a required feed that is absent is an InputError, and so is
    a feed's file that is not a regular file (`check_regular_file`). Nothing is opened:
    entries that match no feed are only listed."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise InputError(f"The input folder {input_dir} does not exist or is not a folder.")
    found: dict[str, list[Path]] = {name: [] for name in contracts}
    discovery = Discovery()
    for entry in sorted(input_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        feed = _feed_of(entry, contracts)
        if feed is None:
            discovery.ignored.append(entry)
        elif entry.is_dir():
            drops = sorted(
                p
                for p in entry.rglob("*")
                if suffix_of(p) and not p.name.startswith(".") and not p.is_dir()
            )
            for drop in drops:
                check_regular_file(drop)
            found[feed].extend(drops)
        else:
            check_regular_file(entry)
            found[feed].append(entry)
    for name, files in found.items():
        if files:
            discovery.feeds[name] = FeedFiles(name, tuple(files))
    missing = [c.name for c in contracts.values() if c.required and c.name not in discovery.feeds]
    if missing:
        expected = ", ".join(f"{m}.csv" for m in missing)
        raise InputError(
            f"The input folder {input_dir} has no {' and no '.join(missing)} feed, which a run "
            f"requires: expected a file such as {expected} (or .csv.gz, .txt, .psv, .tsv, "
            f".parquet, .xlsx, or a folder of monthly drops named after the feed)."
        )
    return discovery


NOT_REGULAR_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)
REGULAR_EXPECTED = "expected a regular file (or a symbolic link to one)"


def check_regular_file(path: Path) -> None:
    """An InputError naming `path` unless it is a regular file or a symbolic link to one.

    Found with stat alone, which never opens the file: opening a named pipe waits for a
    writer forever, and a device may never end."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputError(
            f"{path}: {_unreachable(path, exc)}; {REGULAR_EXPECTED}: point the link at the "
            f"extract, or remove it."
        ) from None
    if stat.S_ISREG(mode):
        return
    kind = next((name for is_kind, name in NOT_REGULAR_KINDS if is_kind(mode)), "not a file")
    via = f" (the symbolic link leads to {path.resolve()})" if path.is_symlink() else ""
    raise InputError(
        f"{path}: is {kind}{via}, not a regular file; {REGULAR_EXPECTED}: a feed is never "
        f"read from a pipe, socket or device, so copy the extract into the input folder."
    )


def _unreachable(path: Path, exc: OSError) -> str:
    """Why stat failed on an entry the folder lists: a dangling or looping symbolic link
    (or the file went away, or a permission)."""
    if exc.errno == errno.ELOOP:
        return "is a symbolic link that loops (it leads back to itself)"
    if path.is_symlink() and exc.errno == errno.ENOENT:
        return f"is a symbolic link to {path.readlink()}, which does not exist"
    return f"cannot be examined ({exc.strerror})"


def is_regular_file(path: Path) -> bool:
    """Whether `path` is a regular file or a symbolic link to one (stat only: never opens
    it), for code that lists a folder's files and must never open a pipe."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _feed_of(entry: Path, contracts: dict[str, FeedContract]) -> str | None:
    if entry.is_dir():
        stem = entry.name.lower()
    elif suffix_of(entry):
        stem = _stem(entry)
    else:
        return None
    for name in contracts:
        if stem == name or re.fullmatch(rf"{re.escape(name)}[_\-.].+", stem):
            return name
    return None


# --- encodings ---------------------------------------------------------------------------

ALL_FEEDS = "*"
"""The key of an encodings mapping that applies to every feed without its own entry."""
DEFAULT_ENCODING = "utf-8"


def parse_encoding_options(values: list[str]) -> dict[str, str]:
    """The `--encoding` options as an encodings mapping for `ingest(encodings=...)`.

    Each value is `ENC` (every feed) or `FEED=ENC` (one feed); names are Python codec
    names or aliases (`cp1252`, `windows-1252`, `latin-1`) and come back canonical. An
    unknown feed or encoding is an InputError."""
    feeds = load_contracts()
    encodings: dict[str, str] = {}
    for value in values:
        feed, has_feed, name = value.rpartition("=")
        key = feed.strip().lower() if has_feed else ALL_FEEDS
        if key not in feeds and key != ALL_FEEDS:
            raise InputError(
                f"--encoding {value}: '{feed.strip()}' is not a feed; expected ENCODING for "
                f"every feed or FEED=ENCODING with FEED one of {', '.join(feeds)}."
            )
        encodings[key] = _canonical_encoding(name.strip(), value)
    return encodings


def _canonical_encoding(name: str, option: str) -> str:
    try:
        "\n".encode(name)  # a bytes-to-bytes codec such as base64 fails here too
        return codecs.lookup(name).name
    except LookupError:
        raise InputError(
            f"--encoding {option}: '{name}' is not an encoding Python knows as text; "
            f"expected a name such as utf-8, cp1252 (Windows-1252) or latin-1."
        ) from None


def encoding_of(feed: str, encodings: Mapping[str, str] | None) -> str:
    """The encoding of `feed`'s text files: its own entry, else the `*` entry, else UTF-8."""
    encodings = encodings or {}
    name = encodings.get(feed) or encodings.get(ALL_FEEDS) or DEFAULT_ENCODING
    return _canonical_encoding(name, f"{feed}={name}")
