"""Domain errors of trained models, with messages a user can act on (views turn them into page messages)."""


class ModelUnavailable(Exception):
    """The model file, export or evaluation asked for cannot be had (missing, not completed, check failed)."""


class ModelFileDamaged(ModelUnavailable):
    """The file on disk no longer has the SHA-256 recorded when it was written: it is not sent."""


class TryItError(Exception):
    """Classifying uploaded images failed as a whole (training service unreachable, model refused)."""
