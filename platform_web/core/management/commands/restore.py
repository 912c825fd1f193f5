"""`python manage.py restore FILE.tar.gz`: put a backup's database and media in place (platform stopped)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from platform_web.core.backup import BackupError, restore_backup


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup`; stop the platform first. What it replaces is moved aside."

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path)

    def handle(self, *args, **options):
        try:
            manifest = restore_backup(options["archive"].resolve())
        except BackupError as e:
            raise CommandError(str(e)) from e
        self.stdout.write(
            f"Restored the {manifest['engine']} database and the media folder from {options['archive']}; "
            "the ones they replaced were moved aside (*.before-restore-*). Start the platform again."
        )
