"""Builders for the trained-model tests: a tiny dataset, a model trained on it by the real engine, DB rows."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from django.conf import settings
from PIL import Image

from platform_web.datasets.models import Dataset
from platform_web.studies.models import EpochMetric, Study, Trial
from trainer_api.engine.config import TrialConfig, TrialResult
from trainer_api.engine.trial import run_trial

CLASSES = ["blue", "green", "red"]
COLOURS = {"blue": (30, 40, 210), "green": (40, 190, 50), "red": (215, 35, 35)}


def make_colour_dataset(root: Path, per_class: int = 14, size: int = 20) -> Path:
    """A ready dataset folder (manifest.json + files/) of three colour classes, 4 validation images each.

    One validation image per class is drawn in another class's colour, so a model
    that learned the colours gets exactly those wrong: the evaluation has mistakes
    to show. Some images are JPEGs with an EXIF orientation tag, like phone photos.
    """
    rng = random.Random(0)
    items, digest = [], hashlib.sha256()
    for label, name in enumerate(CLASSES):
        for index in range(per_class):
            split = "val" if index < 4 else "train"
            colour = COLOURS[CLASSES[(label + 1) % 3]] if (split == "val" and index == 0) else COLOURS[name]
            width = size + index % 3  # a few non-square images: the resize squashes them
            image = Image.new("RGB", (width, size))
            image.putdata(
                [tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in colour) for _ in range(width * size)]
            )
            suffix = ".jpg" if index % 4 == 1 else ".png"
            relative = f"files/{split}/{name}/{index:03d}{suffix}"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            if suffix == ".jpg":
                exif = Image.Exif()
                exif[0x0112] = 6  # rotated 90 degrees: readers must apply it
                image.save(root / relative, quality=95, exif=exif)
            else:
                image.save(root / relative)
            digest.update(relative.encode() + (root / relative).read_bytes())
            items.append(
                {"path": relative, "label": label, "split": split, "width": image.width, "height": image.height}
            )
    manifest = {"format": 1, "content_hash": digest.hexdigest(), "classes": CLASSES, "split_source": "given",
                "items": items}  # fmt: skip
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@dataclass
class TrainedModel:
    """A finished engine trial: its dataset folder, its trial folder and the engine's result."""

    dataset_dir: Path
    trial_dir: Path
    result: TrialResult
    config: TrialConfig


def train_model(folder: Path, architecture: str = "simple_cnn", input_size: int = 16, epochs: int = 6) -> TrainedModel:
    """Train a tiny model with the real engine (`run_trial`) on the colour dataset."""
    torch.set_num_threads(1)
    dataset_dir = make_colour_dataset(folder / "dataset")
    config = TrialConfig(
        architecture=architecture, input_size=input_size, batch_size=8, epochs=epochs, learning_rate=0.01,
        augment=False, diverge_check_epochs=0, seed=0,
    )  # fmt: skip
    work_dir = folder / "trials" / "model-test-1"
    result = run_trial(config, dataset_dir, work_dir, folder / "cache", device="cpu", num_threads=1)
    assert result.model_path, result.message
    return TrainedModel(dataset_dir, work_dir, result, config)


def install_trial(
    trained: TrainedModel, owner, *, study_name: str = "Colour study", number: int = 0, study: Study | None = None
) -> Trial:
    """Copy the trained files into this test's media folders and make the Dataset, Study and Trial rows.

    With `study`, the trial is added to that study (and becomes its best when it scores higher).
    """
    if study is None:
        classes = json.loads((trained.dataset_dir / "manifest.json").read_text())["classes"]
        dataset = Dataset.objects.create(owner=owner, name="Colours", status=Dataset.Status.READY, classes=classes,
                                         val_count=val_count(trained.dataset_dir))  # fmt: skip
        shutil.copytree(trained.dataset_dir, dataset.directory)
        study = Study.objects.create(owner=owner, dataset=dataset, name=study_name, optuna_name=f"test-{dataset.id}",
                                     state=Study.State.COMPLETED)  # fmt: skip
    key = f"{study.id}-{number}"
    target = Path(settings.TRAINER_DATA_DIR) / "trials" / key
    shutil.copytree(trained.trial_dir, target)
    result = trained.result
    trial = Trial.objects.create(
        study=study,
        number=number,
        state=Trial.State.COMPLETED,
        params=trained.config.to_dict(),
        value=result.best_val_accuracy,
        best_epoch=result.best_epoch,
        epochs_planned=trained.config.epochs,
        epochs_done=result.epochs_run,
        train_seconds=result.train_seconds,
        latency_ms_batch1=result.latency_ms_batch1,
        latency_ms_batch64=result.latency_ms_batch64,
        param_count=result.param_count,
        model_path=f"trials/{key}/model.pth",
        model_size_bytes=result.model_size_bytes,
        model_sha256=result.model_sha256,
        safetensors_path=f"trials/{key}/model.safetensors",
        safetensors_sha256=result.safetensors_sha256,
        trainer_key=key,
    )
    for report in result.history:
        EpochMetric.objects.create(
            trial=trial, epoch=report.epoch, train_loss=report.train_loss, train_accuracy=report.train_accuracy,
            val_loss=report.val_loss, val_accuracy=report.val_accuracy, seconds=report.seconds,
            images_per_second=report.images_per_second, learning_rate=report.learning_rate,
        )  # fmt: skip
    if study.best_trial is None or (study.best_trial.value or 0) < (trial.value or 0):
        study.best_trial = trial
        study.save(update_fields=["best_trial"])
    return trial


def val_count(dataset_dir: Path) -> int:
    """Validation images listed in a dataset's manifest."""
    items = json.loads((dataset_dir / "manifest.json").read_text())["items"]
    return sum(1 for item in items if item["split"] == "val")
