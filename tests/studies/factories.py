"""Builders for the study tests: a ready dataset (files + row) and a study's search space."""

from __future__ import annotations

from django.conf import settings

from platform_web.datasets.models import Dataset
from platform_web.studies.space import build_space
from tests.trainer_api.dataset_builder import make_dataset_dir
from trainer_api.engine.manifest import read_manifest

# What the engine registry says (kept small: the tests only need names and minimum sizes).
ARCHITECTURES = [
    {"name": "small_resnet", "min_input_size": 16, "param_count": 1_600_000, "widths": [8, 128], "depths": [1, 3]},
    {"name": "bn_cnn", "min_input_size": 16, "param_count": 1_200_000, "widths": [8, 128], "depths": [2, 5]},
    {"name": "simple_cnn", "min_input_size": 8, "param_count": 10_000},
    {"name": "cifar_net", "min_input_size": 8, "param_count": 60_000},
    {"name": "lite_cnn", "min_input_size": 16, "param_count": 300_000},
    {"name": "resnet18", "min_input_size": 32, "param_count": 11_000_000},
]


def make_ready_dataset(owner, *, classes: int = 3, per_class: int = 8, size: int = 16, kind: str = "bright_dark",
                       name: str = "shapes") -> Dataset:  # fmt: skip
    """A ready Dataset row whose folder under MEDIA_ROOT holds generated images and a manifest."""
    dataset = Dataset(owner=owner, name=name, status=Dataset.Status.READY)
    folder = settings.MEDIA_ROOT / "datasets" / str(dataset.id)
    make_dataset_dir(folder, classes=classes, per_class=per_class, size=size, kind=kind)
    dataset.content_hash = read_manifest(folder).content_hash
    n_val = max(1, round(per_class * 0.25))
    dataset.classes = [f"class_{i:02d}" for i in range(classes)]
    dataset.class_counts = {name: {"train": per_class - n_val, "val": n_val} for name in dataset.classes}
    dataset.image_count = classes * per_class
    dataset.train_count = classes * (per_class - n_val)
    dataset.val_count = classes * n_val
    dataset.split_source = "given"
    dataset.size_stats = {"width": {"min": size, "median": size, "max": size},
                          "height": {"min": size, "median": size, "max": size}}  # fmt: skip
    dataset.save()
    return dataset


def space_values(**changes) -> dict:
    """New-study form values for a tiny, fast space (16 px, 1-2 epochs); `changes` override any of them."""
    values = {
        "architectures": ["simple_cnn"],
        "input_sizes": [16],
        "batch_sizes": [16],
        "epochs_min": 1,
        "epochs_max": 2,
        "optimizers": ["adam"],
        "learning_rate_min": 1e-3,
        "learning_rate_max": 1e-2,
        "learning_rate_sgd_min": 1e-3,
        "learning_rate_sgd_max": 1e-1,
        "weight_decay_min": 0.0,
        "weight_decay_max": 0.0,
        "augment": "off",
        "augment_strength_min": 0.2,
        "augment_strength_max": 0.8,
        "label_smoothing_max": 0.0,
    }
    values.update(changes)
    return values


def tiny_space(**changes) -> dict:
    """A stored search space built from `space_values(**changes)`."""
    return build_space(space_values(**changes), ARCHITECTURES)
