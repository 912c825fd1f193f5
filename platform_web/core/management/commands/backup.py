"""`python manage.py backup --out FILE.tar.gz`: the database and the media folder in one archive."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from platform_web.core.backup import BackupError, make_backup


class Command(BaseCommand):
    help = "Back up the database (SQLite copy or pg_dump) and the media folder into one .tar.gz."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path, help="Where to write the archive (.tar.gz).")

    def handle(self, *args, **options):
        out = options["out"].resolve()
        if not out.parent.is_dir():
            raise CommandError(f"The folder {out.parent} does not exist; create it or choose another --out.")
        try:
            manifest = make_backup(out)
        except BackupError as e:
            raise CommandError(str(e)) from e
        self.stdout.write(f"Backed up the {manifest['engine']} database and the media folder to {out}")
