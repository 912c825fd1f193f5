"""The engine's domain errors: each message says what to change."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(EngineError, ValueError):
    """A trial configuration the engine cannot run (unknown name, value out of range, input too small)."""


class DatasetError(EngineError):
    """The dataset folder is missing, malformed or unusable for training."""
