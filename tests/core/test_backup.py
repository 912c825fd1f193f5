"""Backup and restore as an operator runs them: the commands, on a platform folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SEED = """
from django.contrib.auth import get_user_model
from platform_web.datasets.models import Dataset
user = get_user_model().objects.create_user(username="olga", password="a-long-password-1")
Dataset.objects.create(owner=user, name="{name}", status="ready")
"""
COUNT = """
from platform_web.datasets.models import Dataset
print(sorted(Dataset.objects.values_list("name", flat=True)))
"""


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)  # fmt: skip


def platform_env(var: Path, database_url: str | None = None) -> dict:
    env = dict(os.environ, VAR_DIR=str(var), MEDIA_ROOT=str(var / "media"),
               DATABASE_URL=database_url or f"sqlite:///{var / 'platform.sqlite3'}")  # fmt: skip
    return env


def backup_then_restore(env: dict, var: Path, tmp_path: Path) -> None:
    assert manage(env, "migrate", "--noinput").returncode == 0
    assert manage(env, "shell", "-c", SEED.format(name="before the backup")).returncode == 0
    model = var / "media" / "trainer" / "trials" / "k1" / "model.pth"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"weights" * 1000)
    archive = tmp_path / "platform.tar.gz"
    done = manage(env, "backup", "--out", str(archive))
    assert done.returncode == 0, done.stderr
    assert "Backed up the" in done.stdout and archive.is_file()

    # After the backup: a row and a file that the restore must take back, the original model damaged.
    assert manage(env, "shell", "-c", SEED.replace("olga", "pat").format(name="after the backup")).returncode == 0
    model.write_bytes(b"damaged")
    done = manage(env, "restore", str(archive))
    assert done.returncode == 0, done.stderr
    assert "Restored the" in done.stdout
    names = manage(env, "shell", "-c", COUNT)
    assert names.stdout.strip().splitlines()[-1] == "['before the backup']", names.stdout + names.stderr
    assert model.read_bytes() == b"weights" * 1000
    aside = [p.name for p in var.iterdir() if ".before-restore-" in p.name]
    assert any(name.startswith("media.before-restore-") for name in aside), aside  # nothing replaced is deleted


def test_a_sqlite_platform_is_backed_up_and_restored(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    backup_then_restore(platform_env(var), var, tmp_path)
    assert any(p.name.startswith("platform.sqlite3.before-restore-") for p in var.iterdir())


def test_a_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    env = platform_env(var)
    bogus = tmp_path / "notes.tar.gz"
    bogus.write_bytes(b"not an archive")
    done = manage(env, "restore", str(bogus))
    assert done.returncode != 0 and "is not a platform backup" in done.stderr


@pytest.mark.postgres
def test_a_postgresql_platform_is_backed_up_and_restored(tmp_path):
    psycopg = pytest.importorskip("psycopg")
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith("postgres"):
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgresql://...)")
    name = f"backup_check_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        var = tmp_path / "var"
        var.mkdir()
        backup_then_restore(platform_env(var, admin_url.rsplit("/", 1)[0] + f"/{name}"), var, tmp_path)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
