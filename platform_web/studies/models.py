"""Study records: the source of truth for every page (the channel layer only carries copies)."""

import uuid

from django.conf import settings
from django.db import models

from platform_web.datasets.models import Dataset


class Study(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studies")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="studies")
    name = models.CharField(max_length=200)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    # The search space, budget, sampler, pruner and seed as the form resolved them.
    space = models.JSONField(default=dict)
    n_trials = models.PositiveIntegerField(null=True, blank=True, help_text="Trial budget (None: time only).")
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Time budget (None: trials only).")
    parallel_trials = models.PositiveSmallIntegerField(default=1)
    sampler = models.CharField(max_length=20, default="tpe")
    pruner = models.CharField(max_length=20, default="median")
    seed = models.IntegerField(default=0)
    optuna_name = models.CharField(max_length=100, unique=True, help_text="Study name in the Optuna storage.")
    # The new-study form's one-time token: a double click submits it twice, the second finds the first study.
    start_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    # Set once the Optuna study exists and its known-good first trial is enqueued (by the first slot).
    optuna_ready = models.BooleanField(default=False)
    # Optuna parameters of unsuccessful trials the user asked to run again, enqueued by the next slot that
    # starts (or after the running trial): [{"number": trial number, "params": {...}, "note": "re-run of #N ..."}].
    pending_reruns = models.JSONField(default=list, blank=True)
    # Time budget bookkeeping across resumes: seconds spent in earlier runs, and when the current run began.
    elapsed_seconds = models.FloatField(default=0.0)
    run_started_at = models.DateTimeField(null=True, blank=True)
    best_trial = models.ForeignKey("Trial", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)
    # Progress, kept current by the workers so every page can show it without computing.
    trials_completed = models.PositiveIntegerField(default=0)
    trials_pruned = models.PositiveIntegerField(default=0)
    trials_failed = models.PositiveIntegerField(default=0)
    trials_running = models.PositiveIntegerField(default=0)
    trials_diverged = models.PositiveIntegerField(default=0)
    compute_seconds = models.FloatField(default=0.0)
    eta_seconds = models.FloatField(null=True, blank=True)
    last_event_seq = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    @property
    def trials_finished(self) -> int:
        """Trials that used up budget: completed, pruned and diverged (failed ones are retried or re-run)."""
        return self.trials_completed + self.trials_pruned + self.trials_diverged


class Trial(models.Model):
    class State(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        PRUNED = "pruned", "Pruned"
        FAILED = "failed", "Failed"
        DIVERGED = "diverged", "Diverged"
        CANCELLED = "cancelled", "Cancelled"
        SKIPPED = "skipped", "Skipped"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="trials")
    number = models.PositiveIntegerField(help_text="Optuna's trial number within the study.")
    optuna_trial_id = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    # The searched hyperparameters as the trial resolved them (what pages and importance show).
    params = models.JSONField(default=dict)
    # Optuna's parameters of the trial (what a re-run enqueues again).
    optuna_params = models.JSONField(default=dict, blank=True)
    # The full TrialConfig sent to the training service.
    config = models.JSONField(default=dict, blank=True)
    slot = models.PositiveSmallIntegerField(default=0, help_text="The parallel slot that ran this trial.")
    retry_of = models.PositiveIntegerField(
        null=True, blank=True, help_text="Number of the trial it retries or re-runs."
    )
    # What a re-run changed, for the trial table: "re-run of #3 with learning rate lowered from 0.03 to 0.01".
    note = models.CharField(max_length=300, blank=True)
    value = models.FloatField(null=True, blank=True, help_text="Best validation accuracy.")
    best_epoch = models.PositiveIntegerField(null=True, blank=True)
    epochs_planned = models.PositiveIntegerField(default=0)
    # The speed probe's seconds per epoch, when the epochs were sized to a time slice (budget.py).
    estimated_epoch_seconds = models.FloatField(null=True, blank=True)
    epochs_done = models.PositiveIntegerField(default=0)
    train_seconds = models.FloatField(null=True, blank=True)
    latency_ms_batch1 = models.FloatField(null=True, blank=True)
    latency_ms_batch64 = models.FloatField(null=True, blank=True)
    param_count = models.PositiveBigIntegerField(null=True, blank=True)
    # Paths relative to the trainer's data dir (settings.TRAINER_DATA_DIR).
    model_path = models.CharField(max_length=500, blank=True)
    model_size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    safetensors_path = models.CharField(max_length=500, blank=True)
    safetensors_sha256 = models.CharField(max_length=64, blank=True)
    trainer_key = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "number"]
        constraints = [models.UniqueConstraint(fields=["study", "number"], name="unique_trial_number_per_study")]

    def __str__(self) -> str:
        return f"trial {self.number} of {self.study_id} ({self.state})"


class EpochMetric(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="epochs")
    epoch = models.PositiveIntegerField()
    train_loss = models.FloatField(null=True)
    train_accuracy = models.FloatField(null=True)
    val_loss = models.FloatField(null=True)
    val_accuracy = models.FloatField(null=True)
    seconds = models.FloatField(null=True)
    images_per_second = models.FloatField(null=True)
    learning_rate = models.FloatField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["trial", "epoch"]
        constraints = [models.UniqueConstraint(fields=["trial", "epoch"], name="unique_epoch_per_trial")]

    def __str__(self) -> str:
        return f"epoch {self.epoch} of trial {self.trial_id}"


class StudyEvent(models.Model):
    """Every live event, numbered per study without gaps (seq 1, 2, 3, ...).

    Written in the same transaction that bumps Study.last_event_seq, then
    published to the study's channel group. A client that reconnects with its
    last seq gets the rest from here.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "seq"]
        constraints = [models.UniqueConstraint(fields=["study", "seq"], name="unique_event_seq_per_study")]

    def __str__(self) -> str:
        return f"event {self.seq} ({self.type}) of study {self.study_id}"
