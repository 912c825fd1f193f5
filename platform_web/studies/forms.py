"""The new-study form: the search space and budget, with defaults that fit the dataset and the device."""

from __future__ import annotations

import uuid

from django import forms

from platform_web.studies.space import (
    AUGMENT,
    BATCH_SIZES,
    INPUT_SIZES,
    OPTIMIZERS,
    PRUNERS,
    SAMPLERS,
    searched_choices,
)

MAX_TIMEOUT_MINUTES = 6 * 24 * 60  # below the Celery task limit and the broker's visibility timeout


class StudyForm(forms.Form):
    """Validates a search space; `cleaned_data` feeds space.build_space and services.start_study."""

    start_token = forms.UUIDField(widget=forms.HiddenInput)
    name = forms.CharField(max_length=200, help_text="A name to find this study again.")
    architectures = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="Network designs to try. small_resnet (ResNet-9 style) and bn_cnn are made for small images and "
        "train in seconds per epoch on a CPU; the torchvision networks need a GPU and at least 32 px inputs.",
    )
    width_min = forms.IntegerField(min_value=8, max_value=128, required=False, label="Network width from")
    width_max = forms.IntegerField(
        min_value=8, max_value=128, required=False, label="to",
        help_text="Channels of the first layer of small_resnet and bn_cnn (doubling deeper in); searched on a log scale.",
    )  # fmt: skip
    input_sizes = forms.TypedMultipleChoiceField(
        coerce=int, choices=[(s, f"{s} px") for s in INPUT_SIZES], widget=forms.CheckboxSelectMultiple,
        help_text="Images are resized to this square size. Larger sizes see more detail but train slower.",
    )  # fmt: skip
    batch_sizes = forms.TypedMultipleChoiceField(
        coerce=int, choices=[(b, str(b)) for b in BATCH_SIZES], widget=forms.CheckboxSelectMultiple,
        help_text="Images per training step. Larger batches are faster per epoch; smaller ones often generalise better.",
    )  # fmt: skip
    epochs_min = forms.IntegerField(min_value=1, max_value=500, label="Epochs from")
    epochs_max = forms.IntegerField(
        min_value=1, max_value=500, label="to",
        help_text="How many passes over the training images a trial makes. With a time limit each trial gets as many "
        "as fit in its share of the time, within this range. Weak trials are stopped early by the pruner.",
    )  # fmt: skip
    optimizers = forms.MultipleChoiceField(
        choices=list(OPTIMIZERS.items()), widget=forms.CheckboxSelectMultiple, label="Optimisers",
        help_text="How the weights are updated. Adam is forgiving; SGD with momentum can reach higher accuracy.",
    )  # fmt: skip
    learning_rate_min = forms.FloatField(label="Learning rate (Adam, AdamW) from")
    learning_rate_max = forms.FloatField(
        label="to", help_text="Searched on a log scale. Around 1e-3 suits Adam; too high and training diverges."
    )
    sgd_learning_rate_min = forms.FloatField(label="Learning rate (SGD) from")
    sgd_learning_rate_max = forms.FloatField(label="to", help_text="SGD needs larger steps, around 1e-2 to 1e-1.")
    weight_decay_min = forms.FloatField(label="Weight decay from")
    weight_decay_max = forms.FloatField(
        label="to", help_text="Pulls weights towards zero against overfitting (log scale). 0 and 0 turns it off."
    )
    augment = forms.ChoiceField(
        choices=list(AUGMENT.items()),
        label="Augmentation",
        help_text="Random flips, crops and colour changes of the training images, so the model sees more variety.",
    )
    augment_strength_min = forms.FloatField(min_value=0, max_value=1, label="Augmentation strength from")
    augment_strength_max = forms.FloatField(min_value=0, max_value=1, label="to", help_text="0 is gentle, 1 is strong.")
    label_smoothing_max = forms.FloatField(
        min_value=0, max_value=0.5, label="Label smoothing up to",
        help_text="Softens the targets a little so the model is less over-confident. 0 turns it off.",
    )  # fmt: skip
    n_trials = forms.IntegerField(
        min_value=1, max_value=10_000, required=False, label="Number of trials",
        help_text="How many configurations to train. Leave empty to use only the time limit.",
    )  # fmt: skip
    timeout_minutes = forms.IntegerField(
        min_value=1, max_value=MAX_TIMEOUT_MINUTES, required=False, label="Time limit (minutes)",
        help_text="The study stops starting trials that would not finish in time. Leave empty for no limit.",
    )  # fmt: skip
    parallel_trials = forms.IntegerField(
        min_value=1, max_value=16, label="Parallel trials",
        help_text="Trials trained at the same time (one per worker and training slot).",
    )  # fmt: skip
    sampler = forms.ChoiceField(choices=list(SAMPLERS.items()), help_text="How the next configuration is chosen.")
    pruner = forms.ChoiceField(choices=list(PRUNERS.items()), help_text="How weak trials are stopped early.")
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, help_text="The same seed repeats the same search.")

    def __init__(self, *args, architectures: list[dict], parallel_allowed: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.architecture_info = {a["name"]: a for a in architectures}
        self.parallel_allowed = parallel_allowed
        self.fields["architectures"].choices = [(a["name"], _arch_label(a)) for a in architectures]
        if not self.is_bound and "start_token" not in self.initial:
            self.initial["start_token"] = uuid.uuid4()

    def clean(self) -> dict:
        data = super().clean()
        self._check_range(data, "epochs_min", "epochs_max", "epochs")
        self._check_range(data, "width_min", "width_max", "network width")
        self._check_architectures(data)
        optimizers = data.get("optimizers") or []
        if {"adam", "adamw"} & set(optimizers):
            self._check_log_range(data, "learning_rate_min", "learning_rate_max", "learning rate", high=10)
        if "sgd" in optimizers:
            self._check_log_range(data, "sgd_learning_rate_min", "sgd_learning_rate_max", "SGD learning rate", high=10)
        self._check_weight_decay(data)
        if data.get("augment") != "off":
            self._check_range(data, "augment_strength_min", "augment_strength_max", "augmentation strength")
        if not data.get("n_trials") and not data.get("timeout_minutes"):
            self.add_error("n_trials", "Give the study a budget: a number of trials, a time limit, or both.")
        parallel = data.get("parallel_trials")
        if parallel and parallel > self.parallel_allowed:
            self.add_error(
                "parallel_trials",
                f"This platform stores studies in SQLite, which runs {self.parallel_allowed} trial at a time. "
                "Use PostgreSQL (DATABASE_URL=postgresql://...) for parallel trials.",
            )
        self._check_sampler(data)
        return data

    def _check_range(self, data: dict, low_name: str, high_name: str, what: str) -> None:
        low, high = data.get(low_name), data.get(high_name)
        if low is not None and high is not None and low > high:
            self.add_error(high_name, f"The {what} range is empty: 'from' ({low}) is above 'to' ({high}).")

    def _check_log_range(self, data: dict, low_name: str, high_name: str, what: str, high: float) -> None:
        low_value, high_value = data.get(low_name), data.get(high_name)
        if low_value is None or high_value is None:
            return
        if low_value <= 0:
            self.add_error(low_name, f"The {what} is searched on a log scale, so it must be above 0.")
        elif high_value > high:
            self.add_error(high_name, f"A {what} above {high} always diverges.")
        else:
            self._check_range(data, low_name, high_name, what)

    def _check_weight_decay(self, data: dict) -> None:
        low, high = data.get("weight_decay_min"), data.get("weight_decay_max")
        if low is None or high is None:
            return
        if low < 0 or high < 0:
            self.add_error("weight_decay_min", "Weight decay cannot be negative.")
        elif high > 1:
            self.add_error("weight_decay_max", "Weight decay above 1 erases what the model learns.")
        elif low == 0 and high > 0:
            self.add_error(
                "weight_decay_min",
                "Weight decay is searched on a log scale, so it cannot start at 0: use 0 and 0 to turn it off, "
                "or start at a small value such as 1e-6.",
            )
        else:
            self._check_range(data, "weight_decay_min", "weight_decay_max", "weight decay")

    def _check_architectures(self, data: dict) -> None:
        chosen, sizes = data.get("architectures"), data.get("input_sizes")
        if not chosen or not sizes:
            return
        largest = max(sizes)
        for name in chosen:
            minimum = self.architecture_info[name]["min_input_size"]
            if minimum > largest:
                self.add_error(
                    "architectures",
                    f"{name} needs inputs of at least {minimum} px, but the largest input size chosen is "
                    f"{largest} px: add a larger input size or drop {name}.",
                )

    def _check_sampler(self, data: dict) -> None:
        if data.get("sampler") != "cmaes" or self.errors:
            return
        probe = {
            "architectures": data.get("architectures") or [],
            "input_sizes": data.get("input_sizes") or [],
            "batch_sizes": data.get("batch_sizes") or [],
            "optimizers": data.get("optimizers") or [],
            "augment": data.get("augment"),
        }
        categorical = searched_choices(probe)
        if categorical:
            self.add_error(
                "sampler",
                "CMA-ES searches numeric ranges only, but this space also chooses between options ("
                + ", ".join(categorical)
                + "). Keep one option of each, or use TPE.",
            )


def _arch_label(info: dict) -> str:
    count = info.get("param_count")
    size = f", {count / 1e6:.2f} M parameters" if count else ""
    return f"{info['name']} (inputs ≥ {info['min_input_size']} px{size})"
