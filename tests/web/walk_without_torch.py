"""Run as a script by `test_web_loads_no_torch.py`: the web process, on every URL, must never load torch.

It sets up Django on a fresh SQLite database, makes a user, a ready dataset, a completed
study and its trial from the files the test trained (passed as JSON), loads the ASGI
application, then GETs every URL pattern (every page, JSON view and download) as that
user and prints one JSON line: each URL's status and whether torch was ever imported.
Nothing here may import torch itself; the test checks that too.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_web.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import URLPattern, URLResolver, get_resolver  # noqa: E402

import platform_web.asgi  # noqa: E402, F401 - the websocket routes and consumers, as daphne loads them
from platform_web.datasets.models import Dataset  # noqa: E402
from platform_web.studies.models import EpochMetric, Study, Trial  # noqa: E402

KINDS = ("pth", "safetensors", "torchscript", "onnx", "onnx_int8")


def make_rows(model: dict):
    """The rows and files of one completed study with one trained trial, like the platform leaves them."""
    owner = get_user_model().objects.create_user("walker", password="pw-for-the-walk")
    manifest = json.loads((Path(model["dataset_dir"]) / "manifest.json").read_text())
    dataset = Dataset.objects.create(owner=owner, name="Colours", status=Dataset.Status.READY,
                                     classes=manifest["classes"], image_count=len(manifest["items"]))  # fmt: skip
    shutil.copytree(model["dataset_dir"], dataset.directory)
    study = Study.objects.create(owner=owner, dataset=dataset, name="Walk", optuna_name=f"walk-{dataset.id}",
                                 state=Study.State.COMPLETED, n_trials=1)  # fmt: skip
    key = f"{study.id}-0"
    shutil.copytree(model["trial_dir"], Path(settings.TRAINER_DATA_DIR) / "trials" / key)
    trial = Trial.objects.create(
        study=study, number=0, state=Trial.State.COMPLETED, params=model["params"], value=model["value"],
        epochs_planned=1, epochs_done=1, model_path=f"trials/{key}/model.pth", model_sha256=model["model_sha256"],
        safetensors_path=f"trials/{key}/model.safetensors", safetensors_sha256=model["safetensors_sha256"],
        trainer_key=key,
    )  # fmt: skip
    EpochMetric.objects.create(trial=trial, epoch=1, train_loss=1.0, train_accuracy=0.5, val_loss=1.0,
                               val_accuracy=model["value"], seconds=1.0)  # fmt: skip
    study.best_trial = trial
    study.save(update_fields=["best_trial"])
    return owner, dataset, study


def patterns(resolver: URLResolver, prefix: str = ""):
    """(route with its converters, name) of every URL pattern, admin left out (Django's own pages)."""
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if not route.startswith("admin/"):
                yield from patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route


def fill(route: str, dataset, study) -> list[str]:
    """Concrete URLs for a route: its converters replaced by the rows' values (one URL per file kind)."""
    values = {"<uuid:dataset_id>": str(dataset.id), "<uuid:study_id>": str(study.id), "<int:number>": "0",
              "<int:index>": "0", "<str:name>": "0.jpg"}  # fmt: skip
    for placeholder, value in values.items():
        route = route.replace(placeholder, value)
    if "<filekind:kind>" in route:
        return ["/" + route.replace("<filekind:kind>", kind) for kind in KINDS]
    return ["/" + route]


def main() -> None:
    model = json.loads(Path(sys.argv[1]).read_text())
    call_command("migrate", verbosity=0)
    owner, dataset, study = make_rows(model)
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner)
    statuses = {}
    for route in patterns(get_resolver()):
        for url in fill(route, dataset, study):
            response = client.get(url)
            statuses[url] = response.status_code
            if getattr(response, "streaming", False):
                b"".join(response.streaming_content)
    page = client.get(f"/studies/{study.id}/trials/0/model/").content.decode()
    print(json.dumps({
        "statuses": statuses,
        "torch_loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")),
        "model_page_shows_classes": all(name in page for name in json.loads(dataset_classes(dataset))),
    }))  # fmt: skip


def dataset_classes(dataset) -> str:
    return json.dumps(dataset.classes)


if __name__ == "__main__":
    main()
