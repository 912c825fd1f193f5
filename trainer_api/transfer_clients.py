"""The trainer's end of trainer_api/file_transfer.py: fetch datasets and trial files, send trial files back.

Two ways, one interface (`Transfer`): through the platform's internal routes
(`PlatformTransfer`, TRAINER_PLATFORM_URL) or through S3-compatible object storage
(`ObjectStoreTransfer`, OBJECT_STORAGE_BUCKET). Every file is checked against its
SHA-256 before it takes its place; a dataset as a whole against its content hash
(`dataset_archive.extract_dataset_tar`). Failures raise TransferError, saying what
could not be moved and why.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

import httpx

from trainer_api import file_transfer
from trainer_api.dataset_archive import ArchiveError, extract_dataset_tar
from trainer_api.engine.checkpoint import sha256_file
from trainer_api.object_store import ObjectMissing, ObjectStore, ObjectStoreError

CHUNK = 1 << 20


class TransferError(Exception):
    """A dataset or trial file could not be moved (the message says which, where from and why)."""


class Transfer(Protocol):
    where: str  # "the platform at http://..." or "bucket tune"

    def fetch_dataset(self, dataset_id: str, destination: Path, expected_hash: str | None) -> str: ...

    def put_trial_file(self, key: str, name: str, path: Path) -> None: ...

    def get_trial_file(self, key: str, name: str, destination: Path) -> bool: ...


class _IteratorReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (tarfile's stream mode reads from it)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        size = min(len(buffer), len(self._left))
        buffer[:size], self._left = self._left[:size], self._left[size:]
        return size


class PlatformTransfer:
    """Through the web app's internal routes, with the service's bearer token."""

    def __init__(self, url: str, token: str, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.where = f"the platform at {self.url}"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = httpx.Timeout(timeout, connect=10.0)

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self._headers, timeout=self._timeout)

    def fetch_dataset(self, dataset_id: str, destination: Path, expected_hash: str | None) -> str:
        route = file_transfer.dataset_archive_route(dataset_id)
        try:
            with self._client() as client, client.stream("GET", route) as response:
                if response.status_code != 200:
                    response.read()
                    raise TransferError(f"{self.where} answered {response.status_code} for dataset {dataset_id}: "
                                        f"{_detail(response)}")  # fmt: skip
                announced = response.headers.get(file_transfer.CONTENT_HASH_HEADER)
                if expected_hash and announced and announced != expected_hash:
                    raise TransferError(f"{self.where} has dataset {dataset_id} with content hash {announced}, "
                                        f"not {expected_hash}: was it uploaded again?")  # fmt: skip
                reader = io.BufferedReader(_IteratorReader(response.iter_bytes(CHUNK)), CHUNK)
                return extract_dataset_tar(reader, destination, expected_hash or announced)
        except httpx.HTTPError as e:
            raise TransferError(f"Could not download dataset {dataset_id} from {self.where} ({e!r}).") from e
        except ArchiveError as e:
            raise TransferError(f"Dataset {dataset_id} from {self.where} is not usable: {e}.") from e

    def put_trial_file(self, key: str, name: str, path: Path) -> None:
        headers = {file_transfer.SHA256_HEADER: sha256_file(path)}
        try:
            with self._client() as client, open(path, "rb") as body:
                response = client.put(file_transfer.trial_file_route(key, name), content=body, headers=headers)
        except httpx.HTTPError as e:
            raise TransferError(f"Could not send {name} of trial {key} to {self.where} ({e!r}).") from e
        if response.status_code >= 300:
            raise TransferError(f"{self.where} refused {name} of trial {key} ({response.status_code}: "
                                f"{_detail(response)}).")  # fmt: skip

    def get_trial_file(self, key: str, name: str, destination: Path) -> bool:
        temporary = destination.parent / f".{name}.{os.getpid()}.download"
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._client() as client, client.stream("GET", file_transfer.trial_file_route(key, name)) as response:
                if response.status_code == 404:
                    return False
                if response.status_code != 200:
                    response.read()
                    raise TransferError(f"{self.where} answered {response.status_code} for {name} of trial {key}: "
                                        f"{_detail(response)}")  # fmt: skip
                digest = hashlib.sha256()
                with open(temporary, "wb") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                expected = response.headers.get(file_transfer.SHA256_HEADER)
            if expected and digest.hexdigest() != expected:
                raise TransferError(f"{name} of trial {key} from {self.where} does not match its SHA-256.")
            os.replace(temporary, destination)
            return True
        except httpx.HTTPError as e:
            raise TransferError(f"Could not fetch {name} of trial {key} from {self.where} ({e!r}).") from e
        finally:
            temporary.unlink(missing_ok=True)


class ObjectStoreTransfer:
    """Through S3-compatible object storage (trainer_api/object_store.py)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.where = f"object storage bucket {store.bucket!r}"

    def fetch_dataset(self, dataset_id: str, destination: Path, expected_hash: str | None) -> str:
        name = file_transfer.dataset_object(dataset_id)
        try:
            stream, recorded_hash = self.store.open(name)
        except ObjectMissing as e:
            raise TransferError(f"Dataset {dataset_id} is not in {self.where} (ingested before the bucket was "
                                "configured? Upload it again).") from e  # fmt: skip
        except ObjectStoreError as e:
            raise TransferError(f"Could not download dataset {dataset_id} from {self.where}: {e}") from e
        try:  # the tar is extracted as it streams in (tarfile reads it with read(n))
            if recorded_hash and expected_hash and recorded_hash != expected_hash:
                raise TransferError(f"{self.where} has dataset {dataset_id} with content hash {recorded_hash}, "
                                    f"not {expected_hash}: was it uploaded again?")  # fmt: skip
            return extract_dataset_tar(stream, destination, expected_hash or recorded_hash or None)
        except ArchiveError as e:
            raise TransferError(f"Dataset {dataset_id} from {self.where} is not usable: {e}.") from e
        except Exception as e:  # the connection broke mid-stream (botocore's errors, OSError)
            if isinstance(e, TransferError):
                raise
            raise TransferError(f"Could not download dataset {dataset_id} from {self.where}: {e!r}") from e
        finally:
            stream.close()

    def put_trial_file(self, key: str, name: str, path: Path) -> None:
        try:
            self.store.put_file(file_transfer.trial_object(key, name), path, sha256_file(path))
        except (ObjectStoreError, OSError) as e:
            raise TransferError(f"Could not send {name} of trial {key} to {self.where}: {e}") from e

    def get_trial_file(self, key: str, name: str, destination: Path) -> bool:
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            self.store.get_file(file_transfer.trial_object(key, name), destination)
            return True
        except ObjectMissing:
            return False
        except (ObjectStoreError, OSError) as e:
            raise TransferError(f"Could not fetch {name} of trial {key} from {self.where}: {e}") from e


def transfer_from_environment(platform_url: str, token: str,
                              environ: Mapping[str, str] = os.environ) -> Transfer | None:  # fmt: skip
    """Object storage when OBJECT_STORAGE_BUCKET is set, else the platform when its URL is, else None (shared disk)."""
    store = ObjectStore.from_environment(environ)
    if store is not None:
        return ObjectStoreTransfer(store)
    if platform_url:
        return PlatformTransfer(platform_url, token)
    return None


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))
    except ValueError:
        return response.text[:200]
