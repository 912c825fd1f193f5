"""Back up and restore the whole platform: its database and its media folder, in one .tar.gz.

The archive holds `backup.json` (what is inside, when, from which database engine),
the database (`database.sqlite3`, a consistent copy made with SQLite's online backup,
or `database.pgdump`, `pg_dump --format=custom`) and `media/` (datasets, trial folders
with their models and checkpoints, exports). Optuna's tables live in the same database,
so a restored study can be resumed.

A restore needs the platform stopped. It never deletes what it replaces: the current
database file and media folder are moved aside as `<name>.before-restore-<time>`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

FORMAT_VERSION = 1


class BackupError(Exception):
    """A backup or restore could not be made; the message says why and what to do."""


def _database() -> dict:
    return settings.DATABASES["default"]


def _is_sqlite() -> bool:
    return _database()["ENGINE"] == "django.db.backends.sqlite3"


def _pg_env() -> dict[str, str]:
    db = _database()
    env = dict(os.environ)
    for key, name in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"), ("PGPASSWORD", "PASSWORD")):
        if db.get(name):
            env[key] = str(db[name])
    return env


def _run(argv: list[str], what: str) -> None:
    if shutil.which(argv[0]) is None:
        raise BackupError(f"{argv[0]} is not installed: install the PostgreSQL client tools to {what}.")
    done = subprocess.run(argv, env=_pg_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{argv[0]} failed ({done.returncode}) to {what}: {done.stderr.strip()[-800:]}")


def make_backup(out: Path) -> dict:
    """Write the archive to `out` (through a temporary file, so a failed backup leaves no half archive)."""
    media = Path(settings.MEDIA_ROOT)
    manifest = {"format": FORMAT_VERSION, "made_at": time.time(), "engine": "sqlite" if _is_sqlite() else "postgresql"}
    with tempfile.TemporaryDirectory(prefix="backup-", dir=out.parent) as scratch:
        scratch_dir = Path(scratch)
        if _is_sqlite():
            database = scratch_dir / "database.sqlite3"
            source = sqlite3.connect(_database()["NAME"])
            target = sqlite3.connect(database)
            try:
                source.backup(target)  # consistent even while the platform writes
            finally:
                target.close()
                source.close()
        else:
            database = scratch_dir / "database.pgdump"
            _run(["pg_dump", "--format=custom", "--no-owner", f"--file={database}", _database()["NAME"]],
                 "back up the database")  # fmt: skip
        partial = out.with_name(f".{out.name}.partial")
        with tarfile.open(partial, "w:gz") as archive:
            info = tarfile.TarInfo("backup.json")
            data = json.dumps(manifest).encode()
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            archive.add(database, arcname=database.name)
            if media.is_dir():
                archive.add(media, arcname="media")
        os.replace(partial, out)
    return manifest


def restore_backup(archive_path: Path) -> dict:
    """Put the archive's database and media in place of the current ones (moved aside, not deleted)."""
    if not archive_path.is_file():
        raise BackupError(f"No backup at {archive_path}.")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    media = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory(prefix="restore-", dir=media.parent) as scratch:
        scratch_dir = Path(scratch)
        try:
            with tarfile.open(archive_path, "r:gz") as archive:
                archive.extractall(scratch_dir, filter="data")  # no links out, no absolute paths
        except (tarfile.TarError, OSError, EOFError) as e:
            raise BackupError(f"{archive_path} is not a platform backup that can be read ({e}).") from e
        try:
            manifest = json.loads((scratch_dir / "backup.json").read_text())
        except (OSError, ValueError) as e:
            raise BackupError(f"{archive_path} has no backup.json: it is not a platform backup.") from e
        engine = "sqlite" if _is_sqlite() else "postgresql"
        if manifest.get("engine") != engine:
            raise BackupError(
                f"The backup is of a {manifest.get('engine')} database; this platform uses {engine}. "
                "Set DATABASE_URL to the same kind of database and restore again."
            )
        connection.close()
        if engine == "sqlite":
            current = Path(_database()["NAME"])
            if current.exists():
                current.rename(current.with_name(f"{current.name}.before-restore-{stamp}"))
            for suffix in ("-wal", "-shm"):
                current.with_name(current.name + suffix).unlink(missing_ok=True)
            shutil.move(scratch_dir / "database.sqlite3", current)
        else:
            _run(["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={_database()['NAME']}",
                  str(scratch_dir / "database.pgdump")], "restore the database")  # fmt: skip
        if media.exists():
            media.rename(media.with_name(f"{media.name}.before-restore-{stamp}"))
        restored_media = scratch_dir / "media"
        if restored_media.is_dir():
            shutil.move(restored_media, media)
        else:
            media.mkdir(parents=True)
    return manifest
