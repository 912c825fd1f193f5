"""A ready dataset folder as one tar and back: how a dataset travels to a trainer without the shared disk.

The tar holds `manifest.json` first, then every image the manifest lists (`files/...`),
uncompressed (the images are already compressed), paths relative to the dataset folder;
thumbnails stay behind. `stream_dataset_tar` writes it in chunks (the web app streams it,
ingestion puts it into object storage); `extract_dataset_tar` unpacks one into a new folder,
taking only the manifest's files, and checks the copy against the manifest's content hash
(and the one the caller expected) before the folder takes its name. Imports no torch.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from trainer_api.engine.manifest import MANIFEST_NAME, content_hash

CHUNK = 1 << 20


class ArchiveError(Exception):
    """The tar is not a dataset, or its files are not the ones its manifest names (says which)."""


def _listed_paths(manifest: dict) -> list[str]:
    paths = sorted({str(item["path"]) for item in manifest.get("items", [])})
    for path in paths:
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise ArchiveError(f"the manifest lists {path!r}, which is outside the dataset folder")
    return paths


class _Chunks(io.RawIOBase):
    """A write-only file whose bytes are collected and handed out chunk by chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def stream_dataset_tar(folder: Path) -> Iterator[bytes]:
    """The dataset folder's tar, in chunks of about a megabyte, read as it is sent."""
    manifest_bytes = (folder / MANIFEST_NAME).read_bytes()
    paths = _listed_paths(json.loads(manifest_bytes))
    sink = _Chunks()
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(manifest_bytes)
        tar.addfile(info, io.BytesIO(manifest_bytes))
        for path in paths:
            with open(folder / path, "rb") as source:
                info = tarfile.TarInfo(path)
                info.size = os.fstat(source.fileno()).st_size
                tar.addfile(info, source)
            if sum(len(p) for p in sink.parts) >= CHUNK:
                yield sink.take()
    yield sink.take()


def write_dataset_tar(folder: Path, out: BinaryIO) -> str:
    """Write the folder's tar to `out`; returns the SHA-256 of the bytes written."""
    digest = hashlib.sha256()
    for chunk in stream_dataset_tar(folder):
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()


def extract_dataset_tar(source: BinaryIO, destination: Path, expected_hash: str | None = None) -> str:
    """Unpack a dataset tar read from `source` into `destination` (which must not exist); its content hash.

    The files are written under a temporary name beside `destination` and renamed at the end,
    so a half-downloaded dataset is never found. ArchiveError (nothing left behind) when the tar
    is not a dataset, a file is missing, extra or altered, or the content hash differs from
    the manifest's or from `expected_hash`.
    """
    staging = destination.parent / f".{destination.name}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        found = _unpack(source, staging)
        manifest = json.loads((staging / MANIFEST_NAME).read_text(encoding="utf-8"))
        listed = _listed_paths(manifest)
        missing = sorted(set(listed) - set(found))
        if missing:
            raise ArchiveError(f"{len(missing)} image(s) the manifest lists are missing, e.g. {missing[0]}")
        extra = sorted(set(found) - set(listed))
        if extra:
            raise ArchiveError(f"{len(extra)} file(s) the manifest does not list, e.g. {extra[0]}")
        computed = content_hash((path, found[path]) for path in listed)
        if computed != manifest.get("content_hash"):
            raise ArchiveError("the images do not match the manifest's content hash (altered or truncated in transit)")
        if expected_hash and computed != expected_hash:
            raise ArchiveError(f"the dataset's content hash is {computed}, the platform expected {expected_hash}")
        os.replace(staging, destination)
        return computed
    except (ArchiveError, tarfile.TarError, OSError, ValueError, KeyError, TypeError) as e:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, ArchiveError):
            raise
        raise ArchiveError(f"not a readable dataset archive ({e})") from e


def _unpack(source: BinaryIO, staging: Path) -> dict[str, bytes]:
    """Regular files only, inside the folder; {relative path: SHA-256 digest} of every image written."""
    digests: dict[str, bytes] = {}
    seen_manifest = False
    with tarfile.open(fileobj=source, mode="r|") as tar:
        for member in tar:
            name = PurePosixPath(member.name)
            if not member.isfile() or name.is_absolute() or ".." in name.parts:
                raise ArchiveError(f"the archive holds {member.name!r}, which is not a file inside the dataset")
            stream = tar.extractfile(member)
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with open(target, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if member.name == MANIFEST_NAME:
                seen_manifest = True
            else:
                digests[member.name] = digest.digest()
    if not seen_manifest:
        raise ArchiveError("the archive holds no manifest.json")
    return digests
