"""`python manage.py make_sample_dataset --out PATH.zip`: write the sample dataset's zip (to upload or to run_study)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from platform_web.core import formatting
from platform_web.datasets import sample


class Command(BaseCommand):
    help = "Write the sample dataset (six classes of generated shapes) as a zip of class folders."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="where to write the zip (PATH.zip)")
        parser.add_argument("--per-class", type=int, default=sample.PER_CLASS, help="images per class")
        parser.add_argument("--size", type=int, default=sample.SIZE, help="image width and height in px")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options) -> None:
        out: Path = options["out"]
        if out.suffix.lower() != ".zip":
            raise CommandError(f"{out} does not end in .zip: name the file PATH.zip.")
        if options["per_class"] < 5 or not 16 <= options["size"] <= 512:
            raise CommandError("Use at least 5 images per class and a size from 16 to 512 px.")
        sample.write_sample_zip(out, per_class=options["per_class"], size=options["size"], seed=options["seed"])
        count = options["per_class"] * len(sample.CLASSES)
        self.stdout.write(f"Wrote {out}: {formatting.count(count)} images in {len(sample.CLASSES)} classes "
                          f"({', '.join(sample.CLASSES)}), {formatting.size(out.stat().st_size)}.")  # fmt: skip
