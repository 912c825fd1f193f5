"""One declaration per trial setting: the engine's config, the service's request body and the docs follow it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import ValidationError

from trainer_api.engine import ConfigError, TrialConfig
from trainer_api.engine.hyperparameters import BY_NAME, HYPERPARAMETERS, markdown_table
from trainer_api.schemas import TrialConfigIn

DOCS = Path(__file__).resolve().parents[3] / "docs" / "search_parameters.md"


def test_trial_config_has_exactly_the_declared_fields_and_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(TrialConfig)}
    assert fields == {p.name: p.default for p in HYPERPARAMETERS}


def test_the_request_body_has_the_declared_fields_defaults_and_bounds():
    assert list(TrialConfigIn.model_fields) == [p.name for p in HYPERPARAMETERS]
    assert TrialConfigIn(architecture="small_resnet").model_dump() == {
        **{p.name: p.default for p in HYPERPARAMETERS},
        "architecture": "small_resnet",
    }
    for parameter in HYPERPARAMETERS:
        if parameter.type is float and parameter.high is not None:
            beyond = parameter.high + 1
            with pytest.raises(ValidationError):
                TrialConfigIn(architecture="small_resnet", **{parameter.name: beyond})
            with pytest.raises(ConfigError, match=parameter.name):
                TrialConfig(architecture="small_resnet", **{parameter.name: beyond})


def test_both_sides_refuse_what_the_declaration_refuses():
    assert BY_NAME["label_smoothing"].high_open
    with pytest.raises(ValidationError):
        TrialConfigIn(architecture="small_resnet", label_smoothing=1.0)
    with pytest.raises(ConfigError, match=r"label_smoothing must be in \[0.0, 1.0\)"):
        TrialConfig(architecture="small_resnet", label_smoothing=1.0)
    with pytest.raises(ConfigError, match="Unknown optimizer 'lion'"):
        TrialConfig(architecture="small_resnet", optimizer="lion")


def test_the_docs_table_is_the_declaration():
    assert markdown_table() in DOCS.read_text(), (
        "docs/search_parameters.md is out of date: run python -m trainer_api.engine.hyperparameters"
    )
