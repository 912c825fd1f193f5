"""How datasets and trial files move between the platform and trainers that share no disk, declared once.

A trainer whose host does not mount the platform's media folder gets a dataset it
does not have, and sends back what a trial writes, in one of two ways:

- **through the platform** (`TRAINER_PLATFORM_URL`, e.g. `http://web:8000`): the web
  app's internal routes below, behind `Authorization: Bearer <TRAINER_TOKEN>`;
- **through S3-compatible object storage** (`OBJECT_STORAGE_BUCKET`, with
  `OBJECT_STORAGE_URL` for MinIO and the usual `AWS_ACCESS_KEY_ID` /
  `AWS_SECRET_ACCESS_KEY`): the object names below, in one bucket.

A shared media folder stays the fast path: a trainer that finds the dataset's folder
reads it in place, and one whose data folder is the web's (`TRAINER_DATA_DIR`
inside `MEDIA_ROOT`) sends nothing.

Every file travels with its SHA-256 (`SHA256_HEADER`, or the object's metadata
`OBJECT_SHA256_KEY`), checked by the side that receives it before the file takes
its place; a dataset is checked again as a whole against its manifest's
`content_hash` (`engine.manifest.content_hash`). Imports neither torch nor FastAPI:
the web app, the worker and the training service all read it.
"""

from __future__ import annotations

import re

# --- through the platform: the web app's internal routes (Bearer TRAINER_TOKEN) ---------------------
# A ready dataset as one uncompressed tar: manifest.json and files/... (no thumbnails), paths
# relative to the dataset folder. The response carries the manifest's content hash in CONTENT_HASH_HEADER.
DATASET_ARCHIVE_ROUTE = "/internal/trainer/datasets/{dataset_id}/files.tar"
# One file of a trial's folder: PUT stores it (body = the bytes, SHA256_HEADER = their SHA-256;
# 400 on a mismatch, nothing replaced), GET returns it (404 when the platform has none).
TRIAL_FILE_ROUTE = "/internal/trainer/trials/{key}/files/{name}"
SHA256_HEADER = "X-Content-SHA256"
CONTENT_HASH_HEADER = "X-Dataset-Content-Hash"

# --- through object storage: object names in OBJECT_STORAGE_BUCKET ---------------------------------
# The same tar as DATASET_ARCHIVE_ROUTE, put there by ingestion when the bucket is configured.
DATASET_OBJECT = "datasets/{dataset_id}/files.tar"
TRIAL_OBJECT = "trials/{key}/{name}"
# User metadata on every object: the SHA-256 of its bytes (the content hash, for a dataset's tar).
OBJECT_SHA256_KEY = "sha256"

# --- what travels --------------------------------------------------------------------------------
# The files of a trial folder that are sent back (engine: model and checkpoint files; trial_files.py:
# state and events). Nothing else is accepted, so a route never writes an arbitrary name.
TRIAL_FILES = (
    "model.pth",
    "model.safetensors",
    "checkpoint.pt",
    "config.json",
    "result.json",
    "out_of_memory.json",
    "state.json",
    "events.ndjson",
)
# What another trainer needs to resume an interrupted trial: sent after every epoch, fetched
# by a trainer asked to resume a key it has no folder for.
RESUME_FILES = ("checkpoint.pt", "config.json", "out_of_memory.json", "state.json", "events.ndjson")
# Trial keys as the training service accepts them (schemas.TrialKey): also a folder and object name.
TRIAL_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
DATASET_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def is_trial_file(name: str) -> bool:
    """Whether `name` is one of the trial files that may travel."""
    return name in TRIAL_FILES


def is_trial_key(key: str) -> bool:
    return re.fullmatch(TRIAL_KEY_PATTERN, key) is not None


def is_dataset_id(dataset_id: str) -> bool:
    return re.fullmatch(DATASET_ID_PATTERN, dataset_id) is not None


def dataset_archive_route(dataset_id: str) -> str:
    return DATASET_ARCHIVE_ROUTE.format(dataset_id=dataset_id)


def trial_file_route(key: str, name: str) -> str:
    return TRIAL_FILE_ROUTE.format(key=key, name=name)


def dataset_object(dataset_id: str) -> str:
    return DATASET_OBJECT.format(dataset_id=dataset_id)


def trial_object(key: str, name: str) -> str:
    return TRIAL_OBJECT.format(key=key, name=name)
