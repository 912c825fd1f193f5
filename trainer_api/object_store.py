"""The S3-compatible object storage client that the web app, its workers and the trainers all use.

Configured from the environment (`ObjectStore.from_environment`): `OBJECT_STORAGE_BUCKET`
turns it on, `OBJECT_STORAGE_URL` names the endpoint (MinIO, moto; empty for AWS itself),
and boto3 reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_DEFAULT_REGION`.
The object names are `trainer_api.file_transfer`'s (`dataset_object`, `trial_object`).

Every object carries a SHA-256 in its user metadata (`OBJECT_SHA256_KEY`). `put_file`
stores the value it is given: for a trial file, the SHA-256 of its bytes; for a dataset's
tar, the dataset's content hash (`engine.manifest.content_hash`), which is not the hash of
the tar's bytes. So `get_file` checks the bytes against the metadata unless told
`verify=False`, and `open` checks nothing: the caller of `open` on a dataset's tar checks
the copy as a whole (`dataset_archive.extract_dataset_tar(stream, folder, expected_hash)`).

Imports neither torch, Django nor FastAPI; boto3 loads on first use.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from trainer_api.file_transfer import OBJECT_SHA256_KEY

CHUNK = 1 << 20
# delete_objects takes at most this many keys per request; list_objects_v2 answers at most as many per page.
DELETE_BATCH = 1000
LIST_PAGE = 1000


class ObjectStoreError(Exception):
    """Object storage failed or answered something unusable; the message names the bucket and object."""


class ObjectMissing(ObjectStoreError):
    """The object does not exist in the bucket."""


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class ObjectStore:
    """One bucket of S3-compatible object storage."""

    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self.client = client  # a boto3 S3 client

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ObjectStore | None:
        """The store `environ` configures, or None when OBJECT_STORAGE_BUCKET is not set."""
        bucket = (environ.get("OBJECT_STORAGE_BUCKET") or "").strip()
        if not bucket:
            return None
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=(environ.get("OBJECT_STORAGE_URL") or "").strip() or None,
            # Explicit values when `environ` carries them; otherwise (None) boto3's usual lookup.
            aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY") or None,
            region_name=environ.get("AWS_DEFAULT_REGION") or None,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60),
        )
        return cls(bucket, client)

    def _where(self, name: str) -> str:
        return f"s3://{self.bucket}/{name}"

    def _failed(self, action: str, name: str, error: Exception) -> ObjectStoreError:
        if _error_code(error) in ("NoSuchKey", "404", "NotFound"):
            return ObjectMissing(f"{self._where(name)} does not exist")
        return ObjectStoreError(f"could not {action} {self._where(name)}: {error}")

    def put_file(self, name: str, path: Path, sha256: str) -> None:
        """Upload `path` as object `name` (multipart when large), with metadata {OBJECT_SHA256_KEY: sha256}."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(path), self.bucket, name, ExtraArgs={"Metadata": {OBJECT_SHA256_KEY: sha256}})
        except (BotoCoreError, ClientError, Boto3Error, OSError) as e:
            raise self._failed("put", name, e) from e

    def _get(self, name: str) -> tuple[Any, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as e:
            raise self._failed("read", name, e) from e
        return response["Body"], str(response.get("Metadata", {}).get(OBJECT_SHA256_KEY, ""))

    def open(self, name: str) -> tuple[BinaryIO, str]:
        """A readable stream of object `name` and the SHA-256 its metadata records ("" when none). Unchecked.

        Close the stream when done. ObjectMissing when there is no such object.
        """
        return self._get(name)

    def get_file(self, name: str, destination: Path, verify: bool = True) -> str:
        """Download object `name` to `destination` (replaced only when complete); the metadata's SHA-256.

        The bytes go to a temporary file beside `destination`; with `verify` (the default)
        their SHA-256 must equal the metadata's, or ObjectStoreError and nothing is replaced.
        ObjectMissing when there is no such object.
        """
        from botocore.exceptions import BotoCoreError

        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.download")  # threads too
        body, recorded = self._get(name)
        digest = hashlib.sha256()
        try:
            with body, open(temporary, "wb") as out:
                while chunk := body.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if verify and digest.hexdigest() != recorded:
                raise ObjectStoreError(
                    f"{self._where(name)} has SHA-256 {digest.hexdigest()}, its metadata says {recorded or 'nothing'}"
                    " (altered or truncated); not used"
                )
            os.replace(temporary, destination)
        except BotoCoreError as e:
            raise self._failed("read", name, e) from e
        finally:
            temporary.unlink(missing_ok=True)
        return recorded

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose name starts with `prefix` (which must not be empty); how many went."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not prefix:
            raise ValueError("delete_prefix needs a prefix: an empty one would empty the bucket")
        deleted = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": LIST_PAGE}
            )
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                for start in range(0, len(keys), DELETE_BATCH):
                    batch = keys[start : start + DELETE_BATCH]
                    answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                    errors = answer.get("Errors") or []
                    if errors:
                        raise ObjectStoreError(
                            f"could not delete {len(errors)} object(s) under {self._where(prefix)}, e.g. "
                            f"{errors[0].get('Key')}: {errors[0].get('Message') or errors[0].get('Code')}"
                        )
                    deleted += len(batch)
        except (BotoCoreError, ClientError) as e:
            raise self._failed("delete objects under", prefix, e) from e
        return deleted
