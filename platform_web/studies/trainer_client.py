"""HTTP client of the training service (contract: trainer_api/README.md).

Answers come back as the service's own models (`trainer_api/schemas.py`: Health,
Architecture, SpeedReport, TrialStatus, and one TrialEvent per stream line), so a field
the service renames breaks here, at the boundary, not deep in a caller.

Every failure becomes one of a few domain errors, so callers decide by kind:
`TrainerUnavailable` (connection refused, timeout, 5xx: wait and try again),
`TrainerBusy` (429: every slot is busy, wait `retry_after` seconds),
`TrainerRejected` (4xx: the request itself is wrong; the message says why),
`UnknownTrainerTrial` (404: the service never saw this key).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings
from pydantic import ValidationError

from trainer_api.schemas import (
    TRIAL_EVENT,
    Architecture,
    Health,
    PredictResponse,
    SpeedReport,
    TrialEvent,
    TrialStatus,
)


class TrainerError(Exception):
    """Base of the training service's errors."""


class TrainerUnavailable(TrainerError):
    """The service did not answer (down, restarting, unreachable) or failed with a server error."""


class TrainerBusy(TrainerError):
    """Every training slot is busy; try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TrainerRejected(TrainerError):
    """The service refused the request (bad configuration, missing dataset, wrong token)."""


class UnknownTrainerTrial(TrainerRejected):
    """The service has no trial with this key."""


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
    return str(detail or response.text[:300] or f"HTTP {response.status_code}")


class TrainerClient:
    """One training service at `base_url`, authenticated with its bearer token."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or settings.TRAINER_URL).rstrip("/")
        self.token = token if token is not None else settings.TRAINER_TOKEN
        self.timeout = timeout
        self.transport = transport  # tests pass httpx.MockTransport

    def _client(self, timeout: httpx.Timeout | float | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout if timeout is not None else self.timeout,
            transport=self.transport,
        )

    def _request(
        self, method: str, path: str, timeout: httpx.Timeout | float | None = None, **kwargs
    ) -> httpx.Response:
        try:
            with self._client(timeout) as client:
                response = client.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise TrainerUnavailable(f"The training service at {self.base_url} did not answer ({e!r}).") from e
        return self._check(response)

    def _check(self, response: httpx.Response) -> httpx.Response:
        code = response.status_code
        if code == 429:
            try:
                retry_after = float(response.headers.get("Retry-After", "5"))
            except ValueError:
                retry_after = 5.0
            raise TrainerBusy(_detail(response), retry_after=max(1.0, retry_after))
        if code == 404:
            raise UnknownTrainerTrial(_detail(response))
        if code == 401:
            raise TrainerRejected("The training service refused the token: TRAINER_TOKEN differs between services.")
        if code >= 500:
            raise TrainerUnavailable(f"The training service failed (HTTP {code}): {_detail(response)}")
        if code >= 400:
            raise TrainerRejected(_detail(response))
        return response

    def _parsed(self, model, response: httpx.Response):
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError) as e:
            raise TrainerUnavailable(f"The training service answered {response.request.url.path} oddly: {e}") from e

    def health(self) -> Health:
        """Device, versions and slots (`device_type` is "cpu" or "cuda")."""
        return self._parsed(Health, self._request("GET", "/v1/health"))

    def architectures(self) -> list[Architecture]:
        """Every architecture the service trains: name, minimum input size, parameter count, widths, depths."""
        response = self._request("GET", "/v1/architectures")
        try:
            return [Architecture.model_validate(item) for item in response.json()]
        except (ValueError, ValidationError, TypeError) as e:
            raise TrainerUnavailable(f"The training service listed its architectures oddly: {e}") from e

    def speed(self, config: dict, num_classes: int) -> SpeedReport:
        """Images per second of `config`'s training and evaluation steps on the service's device.

        TrainerBusy while the device trains.
        """
        body = {"config": config, "num_classes": num_classes}
        # Timing takes a few seconds (more on a loaded machine): a longer read timeout than other calls.
        return self._parsed(SpeedReport, self._request("POST", "/v1/speed", timeout=max(self.timeout, 60.0), json=body))

    def submit(self, key: str, dataset: DatasetRef | str, config: dict) -> TrialStatus:
        """Start trial `key` (or get the existing one: the same key never trains twice); its TrialStatus.

        `dataset`: where the service finds it, and (a DatasetRef) what it downloads when it has no
        such folder (a trainer without the shared media folder: trainer_api/file_transfer.py).
        """
        if isinstance(dataset, str):
            dataset = DatasetRef(dataset)
        body = {"key": key, "dataset_path": dataset.path, "config": config}
        if dataset.id:
            body.update(dataset_id=dataset.id, dataset_hash=dataset.content_hash or None)
        return self._parsed(TrialStatus, self._request("POST", "/v1/trials", json=body))

    def status(self, key: str) -> TrialStatus:
        """TrialStatus of `key` (UnknownTrainerTrial when the service never saw it)."""
        return self._parsed(TrialStatus, self._request("GET", f"/v1/trials/{key}"))

    def cancel(self, key: str) -> TrialStatus | None:
        """Ask the trial to stop (within one batch). None when the service does not know the key."""
        try:
            return self._parsed(TrialStatus, self._request("DELETE", f"/v1/trials/{key}"))
        except UnknownTrainerTrial:
            return None

    def forget_cache(self, content_hash: str) -> int:
        """Remove a deleted dataset's decoded images from the service's cache; how many files went."""
        return int(self._request("DELETE", f"/v1/caches/{content_hash}").json().get("files_removed", 0))

    def predict(self, model: str, files: list[tuple[str, object, str]], top_k: int) -> PredictResponse:
        """The top-k classes of each image (name, file object, content type) under the model at `model`."""
        form = {"model": model, "top_k": str(top_k)}
        parts = [("files", part) for part in files]
        timeout = httpx.Timeout(max(self.timeout, 120.0), connect=5)
        return self._parsed(
            PredictResponse, self._request("POST", "/v1/predict", timeout=timeout, data=form, files=parts)
        )

    def events(self, key: str, offset: int = 0, read_timeout: float = 60.0) -> Iterator[TrialEvent]:
        """The trial's events from `offset` (epochs, heartbeats, the last `finished`), as they happen.

        A dropped connection or a silence longer than `read_timeout` raises
        TrainerUnavailable; call again with the next offset to resume.
        """
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        try:
            with self._client(timeout) as client:
                with client.stream("GET", f"/v1/trials/{key}/events", params={"offset": offset}) as response:
                    if response.status_code >= 400:
                        response.read()
                        self._check(response)
                    for line in response.iter_lines():
                        if line.strip():
                            yield TRIAL_EVENT.validate_json(line)
        except httpx.HTTPError as e:
            raise TrainerUnavailable(f"Lost the event stream of trial {key} ({e!r}).") from e
        except ValidationError as e:
            raise TrainerUnavailable(f"The event stream of trial {key} was cut mid-line or is not events: {e}") from e


@dataclass(frozen=True)
class DatasetRef:
    """A trial's dataset as the training service is told it: a path, and the id and hash to download it by."""

    path: str
    id: str = ""
    content_hash: str = ""


def dataset_ref_for(dataset) -> DatasetRef:
    """The DatasetRef of a ready `datasets.Dataset`."""
    return DatasetRef(dataset_path_for(dataset.directory), str(dataset.id), dataset.content_hash)


def dataset_path_for(directory: Path) -> str:
    """The dataset folder as the service expects it: relative to the parent of TRAINER_DATA_DIR when inside it.

    A relative path keeps working when web, workers and trainers mount the shared
    media volume at different places (the multi-host shape).
    """
    base = Path(settings.TRAINER_DATA_DIR).parent
    try:
        return str(Path(directory).relative_to(base))
    except ValueError:
        return str(directory)
