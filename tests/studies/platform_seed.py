"""Run inside a platform's environment (its database and media): create users, datasets and studies.

    python -m tests.studies.platform_seed '{"action": "user", ...}'   (prints one JSON line)

The platform tests use it so that rows land in the running platform's database,
not in pytest-django's test database.
"""

from __future__ import annotations

import json
import sys

import django


def main(request: dict) -> dict:
    django.setup()
    # Imported here, not at the top: Django's models load only after django.setup() has run.
    from django.contrib.auth import get_user_model

    from platform_web.studies import services
    from platform_web.studies.models import Study
    from tests.studies.factories import make_ready_dataset, tiny_space

    users = get_user_model()
    action = request["action"]
    if action == "user":
        user, _ = users.objects.get_or_create(username=request["username"])
        user.set_password(request["password"])
        user.save()
        return {"id": user.pk}
    if action == "dataset":
        owner = users.objects.get(username=request["username"])
        dataset = make_ready_dataset(owner, **request.get("options", {}))
        return {"id": str(dataset.pk), "directory": str(dataset.directory)}
    if action == "study":
        owner = users.objects.get(username=request["username"])
        from platform_web.datasets.models import Dataset  # after django.setup(), as above

        dataset = Dataset.objects.get(pk=request["dataset"])
        study = services.start_study(
            owner=owner, dataset=dataset, name=request.get("name", "test study"),
            space=tiny_space(**request.get("space", {})), n_trials=request.get("n_trials"),
            timeout_seconds=request.get("timeout_seconds"), parallel_trials=request.get("parallel_trials", 1),
            sampler=request.get("sampler", "tpe"), pruner=request.get("pruner", "median"),
            seed=request.get("seed", 0),
        )  # fmt: skip
        return {"id": str(study.pk), "optuna_name": study.optuna_name}
    if action == "upload":
        from pathlib import Path

        from django.core.files.uploadedfile import UploadedFile

        from platform_web.datasets import services as dataset_services  # after django.setup(), as above

        owner = users.objects.get(username=request["username"])
        path = Path(request["zip"])
        with path.open("rb") as handle:
            upload = UploadedFile(file=handle, name=path.name, size=path.stat().st_size)
            dataset = dataset_services.create_dataset_from_upload(owner=owner, name=path.stem, upload=upload)
        return {"id": str(dataset.pk)}
    if action == "cancel":
        study = Study.objects.get(pk=request["study"])
        return {"state": services.cancel_study(study=study).state}
    if action == "resume":
        study = Study.objects.get(pk=request["study"])
        return {"state": services.resume_study(study=study).state}
    raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
