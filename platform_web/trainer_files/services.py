"""What the trainers' internal routes do (contract: trainer_api/file_transfer.py): check the token,
find a ready dataset, store and find a trial's files under TRAINER_DATA_DIR/trials/<key>/.

A trial file is written only for a key some Trial row names (`Trial.trainer_key`) and under
one of the names that travel, so a trainer cannot write anywhere else. A received file takes
its place only when its bytes match the SHA-256 the trainer sent.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from platform_web.datasets.models import Dataset
from platform_web.studies.models import Trial
from trainer_api.file_transfer import is_dataset_id, is_trial_file, is_trial_key

CHUNK = 1 << 20
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


class TrainerFilesError(Exception):
    """A request the routes refuse; `status` is the HTTP status, the message its detail."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def authorized(authorization: str) -> bool:
    """Whether an Authorization header carries the trainers' bearer token (settings.TRAINER_TOKEN)."""
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.TRAINER_TOKEN or ""
    return scheme.lower() == "bearer" and bool(expected) and secrets.compare_digest(token.strip(), expected)


def ready_dataset(dataset_id: str) -> Dataset:
    """The ready dataset `dataset_id` whose folder exists; TrainerFilesError(404) otherwise."""
    dataset = None
    if is_dataset_id(dataset_id):
        dataset = Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.READY).first()
    if dataset is None or not dataset.directory.is_dir():
        raise TrainerFilesError(f"No ready dataset {dataset_id} on the platform.", status=404)
    return dataset


def trial_file_path(key: str, name: str) -> Path:
    """TRAINER_DATA_DIR/trials/<key>/<name> for a file that travels of a trial the platform knows; 404 otherwise."""
    if not is_trial_file(name):
        raise TrainerFilesError(f"{name!r} is not a trial file that travels.", status=404)
    if not is_trial_key(key) or not Trial.objects.filter(trainer_key=key).exists():
        raise TrainerFilesError(f"No trial with key {key!r} on the platform.", status=404)
    return Path(settings.TRAINER_DATA_DIR) / "trials" / key / name


def open_trial_file(key: str, name: str) -> tuple[BinaryIO, str]:
    """The stored file, open at its start, and the SHA-256 of its bytes (404 when there is none).

    Hashed through the open file, so the hash is that of the bytes sent even if a PUT replaces the file meanwhile.
    """
    path = trial_file_path(key, name)
    try:
        stored = path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise TrainerFilesError(f"The platform has no {name} of trial {key}.", status=404) from None
    digest = hashlib.sha256()
    while chunk := stored.read(CHUNK):
        digest.update(chunk)
    stored.seek(0)
    return stored, digest.hexdigest()


def store_trial_file(key: str, name: str, read: Callable[[int], bytes], sha256: str) -> bool:
    """Write the bytes `read(n)` yields into the trial's file if their SHA-256 is `sha256`; True when new.

    The bytes go to a temporary file in the trial's folder, renamed over the old file only
    when complete and matching: a missing or wrong hash (400) leaves the old file as it was.
    """
    path = trial_file_path(key, name)
    expected = (sha256 or "").strip().lower()
    if not SHA256_PATTERN.fullmatch(expected):
        raise TrainerFilesError("The SHA-256 of the body (X-Content-SHA256, 64 hex digits) is missing.", status=400)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{name}.{uuid.uuid4().hex}.upload")
    digest = hashlib.sha256()
    try:
        with open(temporary, "wb") as out:
            while chunk := read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            raise TrainerFilesError(
                f"The body's SHA-256 is {digest.hexdigest()}, not {expected} (altered or cut in transit); "
                f"{name} of trial {key} was not replaced.",
                status=400,
            )
        created = not path.exists()
        os.replace(temporary, path)
        return created
    finally:
        temporary.unlink(missing_ok=True)
