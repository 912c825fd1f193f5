"""Domain errors of trained models, with messages a user can act on (views turn them into page messages)."""


class ModelUnavailable(Exception):
    """The model file, export or evaluation asked for cannot be had (missing, not completed, check failed)."""


class TryItError(Exception):
    """Classifying uploaded images failed as a whole (training service unreachable, model refused)."""
