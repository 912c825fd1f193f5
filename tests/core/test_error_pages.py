"""The site's own 404, 403, 400 and 500 pages (DEBUG=False): the layout, a sentence, links back, nothing leaked."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.views import defaults

from platform_web.core import views as core_views
from platform_web.datasets.models import Dataset

pytestmark = pytest.mark.django_db

LINKS = ('href="/datasets/">Go to your datasets</a>', 'href="/">Home</a>')


@pytest.fixture(autouse=True)
def no_debug(settings):
    settings.DEBUG = False


def assert_error_page(html: str, status: int) -> None:
    assert f'data-status="{status}"' in html
    assert 'class="topbar"' in html and "css/app.css" in html  # the site's layout and styles
    for link in LINKS:
        assert link in html
    for leak in ("Traceback", "urlpatterns", "Request Method", "DEBUG = True", "/work/", "site-packages"):
        assert leak not in html


def test_unknown_url_renders_the_404_template_with_the_layout(client):
    response = client.get("/no/such/page-anywhere/")
    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["404.html", "base.html"]
    html = response.content.decode()
    assert_error_page(html, 404)
    assert "We could not find that page" in html
    assert "page-anywhere" not in html  # the path asked for is not echoed
    assert 'href="/accounts/login/"' in html  # anonymous: the top bar offers to log in


def test_someone_elses_dataset_is_a_plain_404_that_names_nothing(client, user, other_user):
    dataset = Dataset.objects.create(owner=other_user, name="Mallory's secret scans", status=Dataset.Status.READY)
    client.force_login(user)
    response = client.get(f"/datasets/{dataset.pk}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert_error_page(html, 404)
    assert str(dataset.pk) not in html and "secret scans" not in html and "No Dataset matches" not in html
    assert ">alice<" in html  # the signed-in layout: the user's name in the top bar


def test_403_and_400_use_the_layout_and_hide_the_reason(user):
    request = RequestFactory().get("/datasets/")
    request.user = user
    response = defaults.permission_denied(request, PermissionDenied("row 42 of table auth_user is locked"))
    assert response.status_code == 403
    html = response.content.decode()
    assert_error_page(html, 403)
    assert "row 42" not in html and "You cannot open this page" in html


def test_a_disallowed_host_gets_the_400_page(client):
    response = client.get("/", HTTP_HOST="attacker.example")
    assert response.status_code == 400
    html = response.content.decode()
    assert_error_page(html, 400)
    assert "attacker.example" not in html and "ALLOWED_HOSTS" not in html


def test_500_renders_without_any_request_context():
    html = render_to_string("500.html")  # no context, no request, no context processors: it must not fail
    assert_error_page(html, 500)
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and "Something went wrong on our side" in response.content.decode()


def test_a_view_that_crashes_gets_the_500_page_without_the_exception(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret: /var/lib/tune/db.sqlite3 is locked")

    monkeypatch.setattr(core_views, "render", broken)
    response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 500
    html = response.content.decode()
    assert_error_page(html, 500)
    assert "secret" not in html and "RuntimeError" not in html
