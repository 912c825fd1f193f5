"""`python manage.py import_weights FILE --arch NAME`: add pretrained weights for an architecture.

The file is checked first (it must load with `torch.load(weights_only=True)` or be a
.safetensors file, and fit the architecture, all of it or all but the classifier head),
then copied atomically into TRAINER_WEIGHTS_DIR as `<NAME>.pth` (or `.safetensors`),
where the training service looks (trainer_api/engine/weights.py). This command loads
torch; the web server never runs it.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from platform_web.core import formatting
from trainer_api import engine
from trainer_api.engine.catalog import ARCHITECTURES

PRETRAINABLE = [name for name, spec in ARCHITECTURES.items() if spec.torchvision]


class Command(BaseCommand):
    help = (
        "Check a weights file (a state_dict saved with torch.save, or .safetensors) against an architecture "
        "and copy it into TRAINER_WEIGHTS_DIR, so that studies can start that architecture pretrained."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="the weights file (.pth / .pt / .safetensors)")
        parser.add_argument("--arch", required=True, choices=PRETRAINABLE, help="the architecture it was saved from")
        parser.add_argument(
            "--weights-dir", type=Path, default=None,
            help=f"where to copy it (default: TRAINER_WEIGHTS_DIR, now {settings.TRAINER_WEIGHTS_DIR})",
        )  # fmt: skip

    def handle(self, *args, **options) -> None:
        source: Path = options["file"]
        name: str = options["arch"]
        folder: Path = options["weights_dir"] or Path(settings.TRAINER_WEIGHTS_DIR)
        try:
            target = engine.import_weights(source, name, folder)
        except engine.ConfigError as e:
            raise CommandError(f"{e}. Nothing was imported.") from e
        except OSError as e:
            raise CommandError(
                f"Cannot write to {folder}: {e}. Set TRAINER_WEIGHTS_DIR (for this command and the training "
                "service alike) to a folder you can write, or pass --weights-dir."
            ) from e
        self.stdout.write(
            f"Imported {source} as {target} ({formatting.size(target.stat().st_size)}). Trials of {name} with "
            f"pretrained on now start from it. The training service reads TRAINER_WEIGHTS_DIR={folder}: if it runs "
            "on another host or with another TRAINER_WEIGHTS_DIR, copy the file there. The new-study form offers "
            f"pretrained {name} within a minute."
        )
