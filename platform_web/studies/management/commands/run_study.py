"""Headless study: `python manage.py run_study --zip PATH [--trials N] [--timeout S] [--arch NAME ...]`.

Ingests the zip and runs a study through the same pipeline as the web pages
(the Celery worker and the training service must be running: `make up`),
printing a progress bar with the ETA, then the best accuracy, its parameters
and the path of its `.pth`. Ctrl-C cancels the study.
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import UploadedFile
from django.core.management.base import BaseCommand, CommandError

from platform_web.core import formatting
from platform_web.datasets import services as dataset_services
from platform_web.datasets.errors import UploadRejected
from platform_web.datasets.models import Dataset
from platform_web.studies import goals, pretrained, selectors, services
from platform_web.studies.forms import StudyForm
from platform_web.studies.models import Study
from platform_web.studies.progress import progress_payload
from platform_web.studies.space import CLASS_WEIGHTINGS, PRUNERS, SAMPLERS, build_space, default_form_values
from platform_web.studies.storage import parallel_trials_allowed
from platform_web.trainer_files.storage import local_trial_file

POLL_SECONDS = 1.0
BAR_WIDTH = 30


def duration(seconds: float | None) -> str:
    """12 s, 3 min 05 s, 1 h 02 min (the pages' rule); "estimating" before there is an estimate."""
    return "estimating" if seconds is None else formatting.duration(seconds)


class Command(BaseCommand):
    help = "Ingest a zip of image class folders and run a hyperparameter study on it, printing its progress."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--zip", required=True, type=Path, help="zip of image class folders")
        parser.add_argument("--trials", type=int, help="trial budget (default: the form's default)")
        parser.add_argument("--timeout", type=int, help="time budget in seconds")
        parser.add_argument("--arch", action="append", help="architecture to search (repeat for several)")
        parser.add_argument("--user", default="cli", help="owner of the dataset and study (created if missing)")
        parser.add_argument("--name", help="study name")
        parser.add_argument("--parallel", type=int, default=1, help="parallel trials (PostgreSQL only above 1)")
        parser.add_argument("--sampler", choices=list(SAMPLERS), default="tpe")
        parser.add_argument("--pruner", choices=list(PRUNERS), default="hyperband")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--goal", choices=list(goals.GOALS), help="accuracy (default), latency_budget (with --max-latency-ms) or "
            "pareto: accuracy vs latency, two objectives, no pruner",
        )  # fmt: skip
        parser.add_argument(
            "--max-latency-ms", type=float, dest="max_latency_ms",
            help="latency budget in ms per image (batch 1, training device); implies --goal latency_budget",
        )  # fmt: skip
        parser.add_argument(
            "--class-weighting", choices=["auto", *CLASS_WEIGHTINGS], default="auto",
            help="loss weights per class (auto: balanced when the classes are imbalanced, as on the form)",
        )  # fmt: skip

    def handle(self, *args, **options) -> None:
        path: Path = options["zip"]
        if not path.is_file():
            raise CommandError(f"No zip file at {path}.")
        owner, _ = get_user_model().objects.get_or_create(username=options["user"])
        dataset = self.ingest(path, owner)
        study = self.start(dataset, owner, options)
        self.stdout.write(f"Study {study.name} ({study.pk}) started for user {owner.username}.")
        try:
            study = self.follow(study)
        except KeyboardInterrupt:
            self.stdout.write("\nCancelling the study…")
            services.cancel_study(study=study)
            study = self.follow(Study.objects.get(pk=study.pk))
        self.report(study)

    def ingest(self, path: Path, owner) -> Dataset:
        with path.open("rb") as handle:
            upload = UploadedFile(file=handle, name=path.name, size=path.stat().st_size)
            try:
                dataset = dataset_services.create_dataset_from_upload(owner=owner, name=path.stem, upload=upload)
            except UploadRejected as e:
                raise CommandError(str(e)) from e
        self.stdout.write(f"Ingesting {path.name} (dataset {dataset.pk})…")
        while dataset.status in (Dataset.Status.PENDING, Dataset.Status.PROCESSING):
            time.sleep(POLL_SECONDS)
            dataset.refresh_from_db()
            self.bar(dataset.progress, f"{dataset.get_status_display()} {getattr(dataset, 'progress_message', '')}")
        self.stdout.write("")
        if dataset.status != Dataset.Status.READY:
            raise CommandError(f"The dataset could not be ingested: {dataset.error}")
        self.stdout.write(
            f"Dataset ready: {dataset.image_count} images, {len(dataset.classes)} classes "
            f"({dataset.train_count} training, {dataset.val_count} validation)."
        )
        return dataset

    def start(self, dataset: Dataset, owner, options: dict) -> Study:
        capabilities = selectors.trainer_capabilities()
        architectures = capabilities["architectures"]
        values = default_form_values(dataset=dataset, device_type=capabilities["device_type"],
                                     architectures=architectures)  # fmt: skip
        if options["arch"]:
            values["architectures"] = options["arch"]
            sizes = [a["min_input_size"] for a in architectures if a["name"] in options["arch"]]
            if sizes and max(sizes) > max(values["input_sizes"]):
                values["input_sizes"] = [max(sizes)]
            if not set(options["arch"]) & set(pretrained.with_weights(architectures)):
                values["pretrained"] = "off"  # (the default fine-tunes a network with weights; none was asked for)
        if options["trials"] or options["timeout"]:
            values["n_trials"] = options["trials"]
            values["timeout_minutes"] = math.ceil(options["timeout"] / 60) if options["timeout"] else None
        values.update(
            name=options["name"] or f"{dataset.name} from the command line", parallel_trials=options["parallel"],
            sampler=options["sampler"], pruner=options["pruner"], seed=options["seed"], start_token=uuid.uuid4(),
        )  # fmt: skip
        goal = options.get("goal") or ("latency_budget" if options.get("max_latency_ms") is not None else None)
        if goal:
            values.update(goal=goal, max_latency_ms=options.get("max_latency_ms"))
        if options["class_weighting"] != "auto":
            values["class_weighting"] = options["class_weighting"]
        data = {k: v for k, v in values.items() if v is not None}
        form = StudyForm(
            data, architectures=architectures, parallel_allowed=parallel_trials_allowed(),
            class_counts=dataset.class_counts,
        )  # fmt: skip
        if not form.is_valid():
            problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
            raise CommandError(f"The search space is not valid: {problems}")
        cleaned = form.cleaned_data
        try:
            return services.start_study(
                owner=owner, dataset=dataset, name=cleaned["name"], space=build_space(cleaned, architectures),
                n_trials=cleaned["n_trials"], timeout_seconds=options["timeout"] or None,
                parallel_trials=cleaned["parallel_trials"], sampler=cleaned["sampler"], pruner=cleaned["pruner"],
                seed=cleaned["seed"], start_token=cleaned["start_token"],
            )  # fmt: skip
        except services.StudyError as e:
            raise CommandError(str(e)) from e

    def follow(self, study: Study) -> Study:
        while True:
            study = Study.objects.select_related("best_trial").get(pk=study.pk)
            info = progress_payload(study)
            budget = f"/{study.n_trials}" if study.n_trials else ""
            best = (
                f" · best {formatting.percent(study.best_trial.value)}"
                if study.best_trial and study.best_trial.value
                else ""
            )
            eta = "" if study.state in services.FINISHED else f" · ETA {duration(study.eta_seconds)}"
            self.bar(info["fraction"], f"{info['trials_finished']}{budget} trials{best}{eta} · {study.state}")
            if study.state in services.FINISHED:
                self.stdout.write("")
                return study
            time.sleep(POLL_SECONDS)

    def bar(self, fraction: float, text: str) -> None:
        filled = int(round(max(0.0, min(1.0, fraction)) * BAR_WIDTH))
        line = f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction * 100:5.1f}% {text}"
        self.stdout.write(line.ljust(110), ending="")
        self.stdout.flush()

    def report(self, study: Study) -> None:
        self.stdout.write(f"Study {study.state}: {study.trials_completed} completed, {study.trials_pruned} pruned, "
                          f"{study.trials_diverged} diverged, {study.trials_failed} failed trial(s).")  # fmt: skip
        if study.error:
            self.stdout.write(f"Why it stopped: {study.error}")
        best = study.best_trial
        self.stdout.write(f"Goal: {goals.goal_text(study.space)}")
        if best is None:
            raise CommandError(study.error or "No trial completed, so there is no model.")
        self.stdout.write(f"Best validation accuracy: {formatting.percent(best.value)} "
                          f"(trial #{best.number}, epoch {best.best_epoch}, "
                          f"{formatting.milliseconds(best.latency_ms_batch1)} per image)")  # fmt: skip
        if goals.is_pareto(study.space):
            front = goals.measured(study.trials.filter(state="completed"))
            numbers = goals.front_numbers(front)
            self.stdout.write("Pareto front (accuracy, latency per image):")
            for trial in sorted((t for t in front if t.number in numbers), key=lambda t: t.latency_ms_batch1):
                self.stdout.write(f"  #{trial.number}: {formatting.percent(trial.value)}, "
                                  f"{formatting.milliseconds(trial.latency_ms_batch1)}")  # fmt: skip
        self.stdout.write("Parameters:")
        for name, value in best.params.items():
            self.stdout.write(f"  {formatting.label(name)}: {formatting.value(value)}")
        model = local_trial_file(Path(settings.TRAINER_DATA_DIR) / best.model_path) if best.model_path else None
        self.stdout.write(f"Model (.pth): {model if model else 'not saved'}")
        if study.state != Study.State.COMPLETED:
            sys.exit(1)
