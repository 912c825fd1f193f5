"""The web process never imports torch: every URL, loaded as a signed-in user, in a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.trained_models.builders import train_model

WALK = Path(__file__).with_name("walk_without_torch.py")


def test_every_url_answers_without_loading_torch(tmp_path):
    trained = train_model(tmp_path / "trained", epochs=1)  # real model files, made here (this process has torch)
    model = {
        "dataset_dir": str(trained.dataset_dir),
        "trial_dir": str(trained.trial_dir),
        "params": trained.config.to_dict(),
        "value": trained.result.best_val_accuracy,
        "model_sha256": trained.result.model_sha256,
        "safetensors_sha256": trained.result.safetensors_sha256,
    }
    (tmp_path / "model.json").write_text(json.dumps(model))
    var = tmp_path / "var"
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(VAR_DIR=str(var), DATABASE_URL=f"sqlite:///{var / 'walk.sqlite3'}", CELERY_BROKER_URL="memory://",
               TRAINER_URL="http://127.0.0.1:9", DJANGO_SETTINGS_MODULE="platform_web.settings")  # fmt: skip
    done = subprocess.run([sys.executable, str(WALK), str(tmp_path / "model.json")], env=env, capture_output=True,
                          text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    statuses = report["statuses"]
    assert len(statuses) >= 30, statuses  # every page, JSON view and download of the URL table
    # /healthz answers 503 here by design: no trainer, worker or Redis runs for this walk
    assert not [url for url, status in statuses.items() if status >= 500 and url != "/healthz"], statuses
    model_page = [url for url in statuses if url.endswith("/trials/0/model/")]
    assert model_page and statuses[model_page[0]] == 200
    assert report["model_page_shows_classes"], "the model page read the model's metadata without torch"
    assert report["torch_loaded"] == [], report["torch_loaded"]
