"""Domain errors of the datasets app. Their messages are shown to the user as they are."""


class DatasetError(Exception):
    """Base of the errors a user can act on."""


class UploadRejected(DatasetError):
    """The upload was refused before ingestion (too large, no file, too many a minute).

    `retry_after`: seconds until the same upload would be accepted (sent as Retry-After with a 429).
    """

    def __init__(self, message: str, status: int = 400, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class IngestionError(DatasetError):
    """Ingestion stopped: the dataset is marked failed with this message."""


class DatasetGone(DatasetError):
    """The dataset was deleted while it was being ingested."""


class DatasetInUse(DatasetError):
    """The dataset cannot be deleted while one of its studies runs."""
