"""The web side of object storage (settings.OBJECT_STORAGE_BUCKET): datasets in, trial files out, deletes.

With the bucket configured, ingestion puts each ready dataset's tar there (`put_dataset`)
for trainers without the shared media folder; a trial file such a trainer put there is
fetched into `TRAINER_DATA_DIR/trials/<key>/` the first time the web or the model worker
reads it (`local_trial_file`, called by `trained_models.files.data_path`); deleting a
dataset or a study deletes its objects too. Without the bucket every function here does
nothing. The client is trainer_api/object_store.py, the one the trainers use.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

from trainer_api.dataset_archive import ArchiveError, write_dataset_tar
from trainer_api.file_transfer import dataset_object, is_trial_file, is_trial_key, trial_object
from trainer_api.object_store import ObjectMissing, ObjectStore, ObjectStoreError

log = logging.getLogger(__name__)


def object_store() -> ObjectStore | None:
    """The configured bucket's client, or None when object storage is off."""
    if not settings.OBJECT_STORAGE_BUCKET:
        return None
    return ObjectStore.from_environment(
        {
            **os.environ,
            "OBJECT_STORAGE_BUCKET": settings.OBJECT_STORAGE_BUCKET,
            "OBJECT_STORAGE_URL": settings.OBJECT_STORAGE_URL,
        }
    )


def put_dataset(dataset_id, folder: Path, content_hash: str) -> dict | None:
    """Put a ready dataset folder's tar into the bucket (metadata: its content hash).

    None when it went there (or object storage is off); otherwise a dataset-wide warning
    ({"path": "", "message": ...}) for the dataset page: the dataset stays ready and usable by
    trainers that share the media folder or download it from the platform.
    """
    store = object_store()
    if store is None:
        return None
    name = dataset_object(str(dataset_id))
    try:
        with tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR, suffix=".tar") as out:
            write_dataset_tar(Path(folder), out)
            out.flush()
            store.put_file(name, Path(out.name), content_hash)
    except (ObjectStoreError, ArchiveError, OSError) as e:
        log.error("could not put dataset %s into object storage: %s", dataset_id, e)
        return {
            "path": "",
            "message": f"This dataset could not be copied to the object storage bucket “{store.bucket}” ({e}), "
            "so trainers that read datasets only from there cannot train on it; trainers that share the media "
            "folder or download from the platform can. Upload the zip again once the storage answers.",
        }
    return None


def local_trial_file(path: Path) -> Path:
    """`path` (TRAINER_DATA_DIR/trials/<key>/<name>), fetched from the bucket first when missing on disk.

    Returns `path` in every case: a file absent from the bucket too, or one the storage could
    not deliver intact (logged), stays missing, and the caller says so as it always did.
    Anything but a trial file that travels (file_transfer.TRIAL_FILES) is left alone.
    """
    path = Path(path)
    if path.is_file():
        return path
    trials = Path(settings.TRAINER_DATA_DIR).resolve() / "trials"
    try:
        key, name = path.resolve().relative_to(trials).parts
    except ValueError:
        return path
    if not (is_trial_key(key) and is_trial_file(name)):
        return path
    store = object_store()
    if store is None:
        return path
    try:
        store.get_file(trial_object(key, name), path)
    except ObjectMissing:
        pass
    except (ObjectStoreError, OSError) as e:
        log.warning("could not fetch %s of trial %s from object storage: %s", name, key, e)
    return path


def delete_dataset_objects(dataset_id) -> None:
    """Delete the dataset's objects (`datasets/<id>/`); failures are logged, not raised."""
    _delete_prefixes([f"datasets/{dataset_id}/"])


def delete_trial_objects(keys: Iterable[str]) -> None:
    """Delete the objects of these trials (`trials/<key>/` each); failures are logged, not raised."""
    _delete_prefixes(f"trials/{key}/" for key in keys if is_trial_key(key))


def _delete_prefixes(prefixes: Iterable[str]) -> None:
    store = object_store()
    if store is None:
        return
    for prefix in prefixes:
        try:
            store.delete_prefix(prefix)
        except ObjectStoreError as e:  # the records are gone; orphaned objects harm nothing but space
            log.warning("could not delete objects under %s: %s", prefix, e)
