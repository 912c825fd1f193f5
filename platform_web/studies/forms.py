"""The new-study form: the search space and budget, with defaults that fit the dataset and the device."""

from __future__ import annotations

import uuid

from django import forms

from platform_web.studies import goals
from platform_web.studies import pretrained as pretraining
from platform_web.studies.space import (
    AUGMENT,
    BATCH_SIZES,
    CLASS_WEIGHTINGS,
    INPUT_SIZES,
    OPTIMIZERS,
    PRUNER_HELP,
    PRUNERS,
    SAMPLER_HELP,
    SAMPLERS,
    class_weighting_help,
    default_class_weighting,
    possible_values,
    searched_choices,
)
from trainer_api.engine.hyperparameters import SEARCH_RANGES

MAX_TIMEOUT_MINUTES = 6 * 24 * 60  # below the Celery task limit and the broker's visibility timeout


class StudyForm(forms.Form):
    """Validates a search space; `cleaned_data` feeds space.build_space and services.start_study.

    Over 200 lines because every setting of the space is a field here with the check that
    needs the others (ranges, architectures against input sizes, pretrained weights, CMA-ES);
    the defaults and the drawing live in space.py and trial_draw.py.
    """

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
    augment = forms.ChoiceField(
        choices=list(AUGMENT.items()),
        label="Augmentation",
        help_text="Random flips, crops and colour changes of the training images, so the model sees more variety.",
    )
    class_weighting = forms.ChoiceField(
        choices=list(CLASS_WEIGHTINGS.items()), label="Class weighting", required=False,
        help_text="Balanced: each class's images count inversely to its size in the training loss.",
    )  # fmt: skip
    pretrained = forms.ChoiceField(
        choices=list(pretraining.PRETRAINED.items()), required=False, label="Pretrained weights",
        help_text="Offered for the networks whose ImageNet weights the training service has.",
    )  # fmt: skip
    # Then a "from"/"to" pair (or one "up to" field) per searched number: see _add_range_fields.
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
    goal = forms.ChoiceField(choices=list(goals.GOALS.items()), required=False, help_text=goals.GOAL_HELP)
    max_latency_ms = forms.FloatField(
        required=False, label="Latency budget (ms per image)", help_text=goals.BUDGET_HELP,
        widget=forms.NumberInput(attrs={"step": "any", "min": "0"}),
    )  # fmt: skip
    sampler = forms.ChoiceField(choices=list(SAMPLERS.items()), help_text=SAMPLER_HELP)
    pruner = forms.ChoiceField(choices=list(PRUNERS.items()), help_text=PRUNER_HELP)
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, help_text="The same seed repeats the same search.")

    def __init__(
        self, *args, architectures: list[dict], parallel_allowed: int, class_counts: dict | None = None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.class_counts = class_counts or {}
        self.fields["class_weighting"].help_text = class_weighting_help(self.class_counts)
        self.architecture_info = {a["name"]: a for a in architectures}
        self.parallel_allowed = parallel_allowed
        self.fields["architectures"].choices = [(a["name"], _arch_label(a)) for a in architectures]
        # Pretrained is offered only for networks with weights; with none, the form says how to add them.
        self.with_weights = pretraining.with_weights(architectures)
        self.weights_help = pretraining.how_to_add([])
        if self.with_weights:
            self.fields["pretrained"].help_text = pretraining.field_help(self.with_weights)
        else:
            self.fields["pretrained"].widget = forms.HiddenInput()
        self._add_range_fields()
        if not self.is_bound and "start_token" not in self.initial:
            self.initial["start_token"] = uuid.uuid4()

    def clean_class_weighting(self) -> str:
        """Left out (an API client, an older form): the dataset's default."""
        return self.cleaned_data.get("class_weighting") or default_class_weighting(self.class_counts)

    def clean(self) -> dict:
        data = super().clean()
        self._check_range(data, "epochs_min", "epochs_max", "epochs")
        self._check_range(data, "width_min", "width_max", "network width")
        self._check_architectures(data)
        self._check_pretrained(data)
        for _parameter, search in SEARCH_RANGES:
            if all(possible_values(field, data) & set(values) for field, values in search.conditions):
                self._check_search_range(data, search)
            else:  # a range no trial of this form draws from may be left out: it keeps its default
                self._default_search_range(data, search)
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
        self._check_goal(data)
        return data

    def _check_goal(self, data: dict) -> None:
        """Left out: the best accuracy. A budget needs a positive number; the Pareto front prunes nothing (goals.py)."""
        data["goal"] = data.get("goal") or "accuracy"
        if "max_latency_ms" in self.errors:
            return  # not a number: the field's own message says so
        for name, message in goals.goal_problems(data["goal"], data.get("max_latency_ms"), data.get("sampler")).items():
            self.add_error(name, message)
        if data["goal"] != "latency_budget":
            data["max_latency_ms"] = None
        if data["goal"] == "pareto":
            data["pruner"] = "none"  # Optuna cannot prune a multi-objective study: the help text says so

    def _check_range(self, data: dict, low_name: str, high_name: str, what: str) -> None:
        low, high = data.get(low_name), data.get(high_name)
        if low is not None and high is not None and low > high:
            self.add_error(high_name, f"The {what} range is empty: 'from' ({low}) is above 'to' ({high}).")

    def _add_range_fields(self) -> None:
        """Fields for every searched number declared in trainer_api/engine/hyperparameters.py."""
        rows = []
        for _parameter, search in SEARCH_RANGES:
            # Log-scale ranges check their own bounds in _check_search_range, with a message that says why.
            bounds = {} if search.log else {"min_value": search.form_low, "max_value": search.form_high}
            names = [f"{search.key}_max"] if search.upper_only else [f"{search.key}_min", f"{search.key}_max"]
            if search.upper_only:
                self.fields[names[0]] = forms.FloatField(label=search.label, help_text=search.help, **bounds)
            else:
                self.fields[names[0]] = forms.FloatField(label=f"{search.label} from", **bounds)
                self.fields[names[1]] = forms.FloatField(label="to", help_text=search.help, **bounds)
            for name in names:  # required where a trial uses it (clean), else its default
                self.fields[name].required = False
            if self.with_weights or ("pretrained", (True,)) not in search.conditions:
                rows.append(names)  # ranges of pretrained trials only where pretrained is offered
        self.range_field_names = rows

    def range_rows(self) -> list[list]:
        """The searched numbers' bound fields, a row per range (the template lays them out)."""
        return [[self[name] for name in row] for row in self.range_field_names]

    def _default_search_range(self, data: dict, search) -> None:
        low, high = search.default
        for name, value in ((f"{search.key}_min", low), (f"{search.key}_max", high)):
            if name in self.fields and data.get(name) is None:
                data[name] = value
                self.errors.pop(name, None)

    def _check_pretrained(self, data: dict) -> None:
        data["pretrained"] = data.get("pretrained") or "off"
        refusal = pretraining.refusal(data["pretrained"], data.get("architectures") or [], self.with_weights)
        if refusal:
            self.add_error("pretrained" if self.with_weights else None, refusal)

    def _check_search_range(self, data: dict, search) -> None:
        low_name, high_name = f"{search.key}_min", f"{search.key}_max"
        what = search.label[0].lower() + search.label[1:]
        missing = [name for name in (low_name, high_name) if name in self.fields and data.get(name) is None]
        for name in missing:
            if name not in self.errors:
                self.add_error(name, "This field is required.")
        if search.upper_only or missing:
            return  # (one value, bounded by the field itself)
        low, high = data.get(low_name), data.get(high_name)
        if not search.log:
            self._check_range(data, low_name, high_name, what)
        elif search.off_when_zero and (low < 0 or high < 0):
            self.add_error(low_name, f"{search.label} cannot be negative.")
        elif search.form_high is not None and high > search.form_high:
            self.add_error(high_name, f"{search.label} above {search.form_high:g} {search.too_high}.")
        elif search.off_when_zero and low == 0 and high > 0:
            self.add_error(
                low_name,
                f"{search.label} is searched on a log scale, so it cannot start at 0: use 0 and 0 to turn it off, "
                "or start at a small value such as 1e-6.",
            )
        elif low <= 0 and not (search.off_when_zero and high == 0):
            self.add_error(low_name, f"The {what} is searched on a log scale, so it must be above 0.")
        else:
            self._check_range(data, low_name, high_name, what)

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
            "pretrained": data.get("pretrained"),
            "pretrained_architectures": [n for n in data.get("architectures") or [] if n in self.with_weights],
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
    weights = ", pretrained weights" if info.get("pretrained_weights") else ""
    return f"{info['name']} (inputs ≥ {info['min_input_size']} px{size}{weights})"
