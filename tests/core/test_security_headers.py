"""Production settings pass `check --deploy`; every page carries a Content-Security-Policy with no inline script."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_with_production_settings_reports_no_issue():
    env = dict(os.environ, PRODUCTION="1", SECRET_KEY=secrets.token_urlsafe(50), TRAINER_TOKEN="a-real-token")
    for leaked in ("DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"):  # the browser suites set the latter in this process
        env.pop(leaked, None)
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "TRAINER_TOKEN"])
def test_production_refuses_to_start_without_its_own_secret_key_and_trainer_token(missing):
    env = dict(os.environ, PRODUCTION="1", SECRET_KEY=secrets.token_urlsafe(50), TRAINER_TOKEN="a-real-token")
    env.pop(missing)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode != 0 and f"needs a {missing} environment variable of its own" in done.stderr


@pytest.mark.django_db
def test_pages_carry_a_policy_that_allows_only_this_sites_scripts(alice_client):
    for name in ("datasets:list", "datasets:upload", "studies:list", "accounts:login"):
        response = alice_client.get(reverse(name))
        policy = response["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


def test_no_template_has_an_inline_script_or_event_handler():
    """Inline code would be blocked by script-src 'self': scripts live in static/js (JSON data via json_script)."""
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag:
                offenders.append(f"{template.name}: {tag}")
        offenders += [f"{template.name}: {m}" for m in re.findall(r"\son[a-z]+=\"", text)]
    assert offenders == []
