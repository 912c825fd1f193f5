"""`python manage.py up`: start the whole platform on this machine (what `make up` runs)."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand

from platform_web.core.launcher import run_platform


class Command(BaseCommand):
    help = (
        "Start Redis (if none answers), Django, the Celery workers, the training service and the inference "
        "service; Ctrl-C stops all."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--trainer-port", type=int, default=int(os.environ.get("TRAINER_PORT", "8001")))
        parser.add_argument("--inference-port", type=int, default=int(os.environ.get("INFERENCE_PORT", "8002")))

    def handle(self, *args, **options):
        code = run_platform(
            var_dir=settings.VAR_DIR,
            web_port=options["port"],
            trainer_port=options["trainer_port"],
            inference_port=options["inference_port"],
            host=options["host"],
            say=lambda message: (self.stdout.write(message), self.stdout.flush()),
        )
        raise SystemExit(code)
