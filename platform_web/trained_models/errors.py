"""Domain errors of trained models, with messages a user can act on (views turn them into page messages)."""


class ModelUnavailable(Exception):
    """The model file, export or evaluation asked for cannot be had (missing, not completed, check failed)."""


class ModelFileDamaged(ModelUnavailable):
    """The file on disk no longer has the SHA-256 recorded when it was written: it is not sent."""


class TryItError(Exception):
    """Classifying uploaded images failed as a whole (inference service unreachable, model refused)."""


class TrainerDown(TryItError):
    """The inference service did not answer; the same request may work in a minute (the API says 503)."""


class NotImages(TryItError):
    """None of the uploaded files is an image: the whole request is refused (400), each file named.

    `results` holds the per-file answers (`{"filename", "predictions": None, "error", "not_image": True}`).
    """

    def __init__(self, message: str, results: list[dict]) -> None:
        super().__init__(message)
        self.results = results
