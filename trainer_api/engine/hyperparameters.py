"""Every setting of a trial, declared once: its type, default and allowed values, and how a study searches it.

Torch-free and FastAPI-free, so every layer reads it:

- the engine's `TrialConfig` (config.py) checks its values against `low`/`high`/`choices`;
- the training service's request body (`schemas.TrialConfigIn`) is built from it;
- the new-study form (`platform_web/studies/forms.py`) makes a "from"/"to" pair (or one
  "up to" field) for each `SearchRange`, with its label, help and bounds;
- the search space (`platform_web/studies/space.py`) stores `[low, high]` under the
  range's `key`, gives the form its default, and draws each trial's value in it;
- the study page's space summary and live trial table (`table`) show it;
- `docs/search_parameters.md` is this table (`python -m trainer_api.engine.hyperparameters`).

Adding a number to search is one `Hyperparameter` here with a `SearchRange`, its field on
`TrialConfig`, and the engine code that uses it. Choices that shape the whole trial (the
architecture and its width and depth, input size, batch size, epochs, optimiser,
augmentation on/off) are searched by `space.py` itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class SearchRange:
    """How a study searches one number: a range on the new-study form, drawn from by each trial.

    `key` names the range in the stored space, in Optuna and in the form's fields
    (`<key>_min`, `<key>_max`). `upper_only`: the form asks only "up to" and the range
    starts at the parameter's `low`. `off_when_zero`: "0 to 0" turns the setting off
    (searched on a log scale otherwise, so it cannot start at 0). `when`: drawn only
    while another setting has one of these values, `(setting, values)`, or while each of
    several do, `((setting, values), ...)`; `value_otherwise` applies otherwise.
    `too_high`: why values above `form_high` are refused.
    """

    key: str
    label: str
    default: tuple[float, float]
    help: str = ""
    gpu_default: tuple[float, float] | None = None
    log: bool = False
    form_low: float | None = None
    form_high: float | None = None
    too_high: str = ""
    upper_only: bool = False
    off_when_zero: bool = False
    when: tuple | None = None
    value_otherwise: Any = None

    @property
    def conditions(self) -> tuple[tuple[str, tuple], ...]:
        """`when` as ((setting, allowed values), ...); () for a range that always applies."""
        if self.when is None:
            return ()
        return (self.when,) if isinstance(self.when[0], str) else tuple(self.when)

    def default_for(self, on_gpu: bool) -> tuple[float, float]:
        return self.gpu_default if on_gpu and self.gpu_default else self.default

    def applies(self, chosen: dict) -> bool:
        """Whether this range is drawn from, given the settings chosen so far."""
        return all(chosen.get(setting, False) in values for setting, values in self.conditions)


@dataclass(frozen=True)
class Hyperparameter:
    """One field of TrialConfig: its type, default, allowed values and (if searched) its ranges.

    `low`/`high` bound numbers (`low_open`/`high_open` exclude the end); `choices` lists
    a text setting's values. `table`: its short name in the live trial table ("" = not shown).
    """

    name: str
    type: type
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    searches: tuple[SearchRange, ...] = ()
    table: str = ""

    def check(self, value: Any) -> None:
        """Raise ConfigError unless `value` is allowed."""
        if self.type is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{self.name} must be true or false, got {value!r}")
        elif self.type is str:
            if self.choices and value not in self.choices:
                raise ConfigError(f"Unknown {self.name} {value!r}; choose one of {', '.join(self.choices)}")
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{self.name} must be a whole number, got {value!r}")
            if not self.low <= value <= self.high:
                raise ConfigError(f"{self.name} must be between {self.low} and {self.high}, got {value}")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"{self.name} must be a finite number, got {value!r}")
            too_low = value <= self.low if self.low_open else value < self.low
            too_high = value >= self.high if self.high_open else value > self.high
            if too_low or too_high:
                left, right = ("(" if self.low_open else "["), (")" if self.high_open else "]")
                raise ConfigError(f"{self.name} must be in {left}{self.low}, {self.high}{right}, got {value}")


OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("onecycle", "cosine", "step", "constant")
ADAM_FAMILY = ("adam", "adamw")
# none: every image counts alike; balanced: a class's images count inversely to its share of
# the training split (scikit-learn's "balanced": n_images / (n_classes * n_class_images)).
CLASS_WEIGHTINGS = ("none", "balanced")

HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter("architecture", str, "simple_cnn", "the network (engine/catalog.py)"),
    Hyperparameter(
        "pretrained",
        bool,
        False,
        help="start from the architecture's ImageNet weights (torchvision networks with weights on the service)",
    ),
    Hyperparameter(
        "freeze_epochs",
        int,
        0,
        help="pretrained only: epochs at the start that train only the last layer, the rest frozen",
        low=0,
        high=10000,
        table="frozen",
        searches=(
            SearchRange(
                "freeze_epochs",
                "Frozen-backbone epochs up to",
                (0, 2),
                form_low=0,
                form_high=20,
                upper_only=True,
                when=("pretrained", (True,)),
                value_otherwise=0,
                help="A pretrained network first trains only its new last layer for this many epochs, so the "
                "random layer does not disturb the pretrained ones. 0 trains every layer from the start.",
            ),
        ),
    ),  # fmt: skip
    Hyperparameter("width", int, 0, "small_resnet / bn_cnn channels (0 = the architecture's default)", 0, 4096),
    Hyperparameter("depth", int, 0, "small_resnet / bn_cnn blocks (0 = the architecture's default)", 0, 64),
    Hyperparameter("input_size", int, 32, "square side the images are resized to", 1, 2048),
    Hyperparameter("batch_size", int, 64, "images per training step", 1, 65536),
    Hyperparameter("epochs", int, 10, "passes over the training images", 1, 10000),
    Hyperparameter("optimizer", str, "adam", "how the weights are updated", choices=OPTIMIZERS),
    Hyperparameter(
        "learning_rate",
        float,
        1e-3,
        help="the optimiser's peak step size",
        low=0.0,
        high=math.inf,
        low_open=True,
        table="lr",
        searches=(
            SearchRange(
                "learning_rate",
                "Learning rate (Adam, AdamW)",
                (3e-4, 1e-2),
                log=True,
                form_high=10,
                too_high="always diverges",
                when=(("optimizer", ADAM_FAMILY), ("pretrained", (False,))),
                help="Searched on a log scale. Around 1e-3 suits Adam; too high and training diverges.",
            ),
            SearchRange(
                "learning_rate_sgd",
                "Learning rate (SGD)",
                (1e-2, 3e-1),
                log=True,
                form_high=10,
                too_high="always diverges",
                when=(("optimizer", ("sgd",)), ("pretrained", (False,))),
                help="SGD needs larger steps, around 1e-2 to 1e-1.",
            ),
            SearchRange(
                "learning_rate_pretrained",
                "Learning rate (Adam, AdamW, pretrained)",
                (1e-4, 3e-3),
                log=True,
                form_high=10,
                too_high="always diverges",
                when=(("optimizer", ADAM_FAMILY), ("pretrained", (True,))),
                help="Fine-tuning pretrained weights takes smaller steps than training from scratch, "
                "so as not to wipe out what they learnt.",
            ),
            SearchRange(
                "learning_rate_sgd_pretrained",
                "Learning rate (SGD, pretrained)",
                (1e-3, 3e-2),
                log=True,
                form_high=10,
                too_high="always diverges",
                when=(("optimizer", ("sgd",)), ("pretrained", (True,))),
                help="SGD's steps when fine-tuning pretrained weights.",
            ),
        ),
    ),  # fmt: skip
    Hyperparameter(
        "weight_decay",
        float,
        0.0,
        help="pull of the weights towards zero",
        low=0.0,
        high=math.inf,
        table="wd",
        searches=(
            SearchRange(
                "weight_decay",
                "Weight decay",
                (1e-5, 5e-3),
                log=True,
                form_low=0,
                form_high=1,
                off_when_zero=True,
                too_high="erases what the model learns",
                help="Pulls weights towards zero against overfitting (log scale). 0 and 0 turns it off.",
            ),
        ),
    ),  # fmt: skip
    Hyperparameter("momentum", float, 0.9, "SGD's momentum", 0.0, 1.0, high_open=True),
    Hyperparameter(
        "label_smoothing",
        float,
        0.0,
        help="share of each target spread over the other classes",
        low=0.0,
        high=1.0,
        high_open=True,
        table="smoothing",
        searches=(
            SearchRange(
                "label_smoothing",
                "Label smoothing up to",
                (0.0, 0.15),
                form_low=0,
                form_high=0.5,
                upper_only=True,
                help="Softens the targets a little so the model is less over-confident. 0 turns it off.",
            ),
        ),
    ),  # fmt: skip
    Hyperparameter(
        "class_weighting",
        str,
        "none",
        help="how much each class's images count in the training loss",
        choices=CLASS_WEIGHTINGS,
    ),  # fmt: skip
    Hyperparameter("scheduler", str, "cosine", "how the learning rate moves over the epochs", choices=SCHEDULERS),
    Hyperparameter("warmup_epochs", int, 0, "epochs of linear warm-up", 0, 10000),
    Hyperparameter("augment", bool, True, "random flips, crops and colour changes of the training images"),
    Hyperparameter(
        "augment_strength",
        float,
        0.5,
        help="how strong the augmentation is",
        low=0.0,
        high=1.0,
        table="strength",
        searches=(
            SearchRange(
                "augment_strength",
                "Augmentation strength",
                (0.1, 0.5),
                form_low=0,
                form_high=1,
                when=("augment", (True,)),
                value_otherwise=0.0,
                help="0 is gentle, 1 is strong.",
            ),
        ),
    ),  # fmt: skip
    Hyperparameter("early_stopping_patience", int, 0, "epochs without a lower validation loss (0 = off)", 0, 10000),
    Hyperparameter(
        "diverge_check_epochs",
        int,
        2,
        help="stop as diverged when accuracy is still at chance after this many epochs",
        low=0,
        high=10000,
    ),  # fmt: skip
    Hyperparameter("seed", int, 0, "seed of the weights, the batches and the augmentation", 0, 2**63 - 1),
)

BY_NAME = {p.name: p for p in HYPERPARAMETERS}
SEARCH_RANGES: tuple[tuple[Hyperparameter, SearchRange], ...] = tuple(
    (p, search) for p in HYPERPARAMETERS for search in p.searches
)


def table_labels() -> dict[str, str]:
    """{parameter name: short name} for the live trial table."""
    return {p.name: p.table for p in HYPERPARAMETERS if p.table}


def markdown_table() -> str:
    """docs/search_parameters.md's table of the searched numbers."""

    def span(bounds):
        return f"{bounds[0]:g} to {bounds[1]:g}"

    lines = [
        "| setting | form fields | default range (CPU) | on a GPU | scale | searched when | what |",
        "|---|---|---|---|---|---|---|",
    ]
    for parameter, search in SEARCH_RANGES:
        fields = f"`{search.key}_max`" if search.upper_only else f"`{search.key}_min`, `{search.key}_max`"
        default = f"up to {search.default[1]:g}" if search.upper_only else span(search.default)
        gpu = span(search.gpu_default) if search.gpu_default else "same"
        when = " and ".join(
            f"{setting} is {' or '.join(str(v).lower() for v in values)}" for setting, values in search.conditions
        )
        scale = "log" if search.log else "linear"
        lines.append(
            f"| `{parameter.name}` | {fields} | {default} | {gpu} | {scale} | {when or 'always'} | {search.help} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
