"""Making an uploaded zip safe to unpack.

Every entry is checked before anything is written (names that escape the
folder, links, encryption, declared sizes), and real bytes are counted while
extracting, because the sizes a zip declares can lie.
"""

from __future__ import annotations

import hashlib
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from platform_web.core import formatting
from platform_web.datasets.errors import IngestionError

# Small entries may compress extremely well (a blank image) without being a
# bomb; the ratio limit applies once an entry has unpacked this many bytes.
RATIO_CHECK_FLOOR_BYTES = 1024 * 1024
COPY_CHUNK_BYTES = 1024 * 1024
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
# Deeper folders than any real dataset; a path thousands of folders deep would exhaust
# the recursion of the tools that walk it and fail again on every retry.
MAX_FOLDER_DEPTH = 32
SHOWN_NAME_CHARS = 120


@dataclass(frozen=True)
class ZipLimits:
    """Zip-bomb limits (settings ZIP_MAX_TOTAL_BYTES, ZIP_MAX_ENTRIES, ZIP_MAX_RATIO)."""

    max_total_bytes: int
    max_entries: int
    max_ratio: float


def human_bytes(count: float) -> str:
    """`1536` -> `1.5 kB`: sizes in messages, in the one unit system every page uses (formatting.size)."""
    return formatting.size(count)


def open_zip(path: Path) -> zipfile.ZipFile:
    """Open the uploaded file as a zip, or fail with a message saying it is not one."""
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise IngestionError(
            f"The uploaded file is not a zip archive, or it is damaged ({e}). "
            "Upload a .zip file made by your system's 'compress' command or the zip tool."
        ) from e
    except (OSError, EOFError, ValueError) as e:
        raise IngestionError(f"The uploaded zip cannot be read ({e}); upload it again.") from e


def unsafe_name_reason(name: str) -> str | None:
    """Why an entry's path would land outside the dataset folder, or None when it is safe."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/"):
        return "is an absolute path"
    if _DRIVE_LETTER.match(normalized):
        return "starts with a drive letter"
    if ".." in normalized.split("/"):
        return "climbs out of the folder with '..'"
    if "\x00" in normalized:
        return "contains a NUL character"
    hidden = next((c for c in normalized if unicodedata.category(c) in ("Cc", "Cf")), None)
    if hidden is not None:
        return (
            f"contains the invisible character U+{ord(hidden):04X} ({unicodedata.name(hidden, 'a control character')}), "
            "which can make a name read differently from what it is"
        )
    depth = normalized.count("/")
    if depth > MAX_FOLDER_DEPTH:
        return f"is {depth:,} folders deep; at most {MAX_FOLDER_DEPTH} are accepted"
    return None


def shown_name(name: str) -> str:
    """An entry name safe to show in a message: invisible characters escaped, long names cut."""
    visible = "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf") else c for c in name)
    return visible if len(visible) <= SHOWN_NAME_CHARS else visible[: SHOWN_NAME_CHARS - 1] + "…"


def is_symlink(info: zipfile.ZipInfo) -> bool:
    """True when the entry is a symbolic link (Unix mode in the high 16 bits of external_attr)."""
    return stat.S_ISLNK(info.external_attr >> 16)


def check_entries(infos: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    """Refuse the whole zip when any entry is unsafe or the declared sizes are over the limits."""
    if len(infos) > limits.max_entries:
        raise IngestionError(
            f"The zip holds {len(infos):,} entries; the limit is {limits.max_entries:,}. "
            "Split the dataset or remove files it does not need."
        )
    declared_total = compressed_total = 0
    for info in infos:
        reason = unsafe_name_reason(info.filename)
        if reason:
            raise IngestionError(
                f"Unsafe entry “{shown_name(info.filename)}”: its path {reason}. "
                "Rename or move it inside the zip's folder and zip again; nothing was extracted."
            )
        if is_symlink(info):
            raise IngestionError(
                f"Unsafe entry “{shown_name(info.filename)}”: it is a symbolic link. "
                "Links are not accepted; put the image files themselves in the zip."
            )
        if info.flag_bits & 0x1:
            raise IngestionError(
                f"Entry “{shown_name(info.filename)}” is encrypted (password-protected). Upload a zip without a password."
            )
        if info.is_dir():
            continue
        declared_total += info.file_size
        compressed_total += info.compress_size
        _check_ratio(info, info.file_size, limits)
    check_archive_ratio(declared_total, compressed_total, limits)
    if declared_total > limits.max_total_bytes:
        raise IngestionError(
            f"The zip says it unpacks to {human_bytes(declared_total)}, more than the limit of "
            f"{human_bytes(limits.max_total_bytes)}. Upload a smaller dataset."
        )


def _check_ratio(info: zipfile.ZipInfo, unpacked: int, limits: ZipLimits) -> None:
    allowed = max(limits.max_ratio * max(info.compress_size, 1), RATIO_CHECK_FLOOR_BYTES)
    if unpacked > allowed:
        raise IngestionError(
            f"Entry “{info.filename}” unpacks to more than {limits.max_ratio:g} times its compressed size "
            f"({human_bytes(info.compress_size)} compressed); this looks like a zip bomb, so the zip was refused."
        )


def check_archive_ratio(unpacked: int, compressed: int, limits: ZipLimits) -> None:
    """Refuse a zip whose entries together unpack to more than ZIP_MAX_RATIO times their compressed size.

    The per-entry check spares small entries (a blank image compresses very well), so a
    zip of many small, padded entries is caught here, on the whole archive.
    """
    if unpacked > RATIO_CHECK_FLOOR_BYTES and unpacked > limits.max_ratio * max(compressed, 1):
        raise IngestionError(
            f"The zip unpacks to {human_bytes(unpacked)} from {human_bytes(compressed)} of compressed data, more than "
            f"{limits.max_ratio:g} times its size; this looks like a zip bomb, so the zip was refused. "
            "Images are already compressed: zip them as they are, without padding."
        )


class ByteBudget:
    """Counts the real bytes extracted from the whole zip against ZIP_MAX_TOTAL_BYTES and ZIP_MAX_RATIO.

    `compressed_bytes`: the compressed size of the entries that will be extracted (the
    real bytes can exceed what the entries declare).
    """

    def __init__(self, limits: ZipLimits, compressed_bytes: int | None = None) -> None:
        self.limits = limits
        self.compressed_bytes = compressed_bytes
        self.used = 0

    def take(self, count: int, entry: str) -> None:
        self.used += count
        if self.compressed_bytes is not None:
            check_archive_ratio(self.used, self.compressed_bytes, self.limits)
        if self.used > self.limits.max_total_bytes:
            raise IngestionError(
                f"The zip unpacks to more than the limit of {human_bytes(self.limits.max_total_bytes)} "
                f"(reached while extracting “{entry}”). Upload a smaller dataset."
            )


def extract_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: ByteBudget) -> bytes:
    """Copy one entry to `target`, counting real bytes; returns the SHA-256 digest of its content."""
    digest = hashlib.sha256()
    written = 0
    try:
        with zf.open(info) as source, open(target, "wb") as out:
            while chunk := source.read(COPY_CHUNK_BYTES):
                written += len(chunk)
                budget.take(len(chunk), info.filename)
                _check_ratio(info, written, budget.limits)
                digest.update(chunk)
                out.write(chunk)
    except NotImplementedError as e:
        raise IngestionError(
            f"Entry “{info.filename}” uses a compression method this server cannot read ({e}). "
            "Re-create the zip with the standard Deflate method."
        ) from e
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise IngestionError(f"The zip is damaged at entry “{info.filename}” ({e}); upload it again.") from e
    return digest.digest()
