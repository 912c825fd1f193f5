"""The API tokens page: a token is shown once at creation, listed by name and prefix, revoked by its owner only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from platform_web.api_tokens.models import ApiToken
from platform_web.api_tokens.services import hash_token

pytestmark = pytest.mark.django_db


def create(client, name: str = "stock camera"):
    return client.post(reverse("api_tokens:list"), {"name": name})


def test_create_shows_the_token_once_and_stores_only_its_hash(alice_client, user):
    response = create(alice_client)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = response.context["new_token"]["raw"]
    assert raw.startswith("tune_") and len(raw) > 40
    assert raw in response.content.decode()
    assert "shown only this once" in response.content.decode()
    token = ApiToken.objects.get(owner=user)
    assert token.name == "stock camera"
    assert token.token_hash == hash_token(raw) and raw.startswith(token.prefix)
    stored = [str(value) for value in ApiToken.objects.values_list(*[f.attname for f in ApiToken._meta.fields]).get()]
    assert not [value for value in stored if raw in value], "the database holds the token itself"
    again = alice_client.get(reverse("api_tokens:list")).content.decode()
    assert raw not in again, "the token is shown only in the response that created it"
    assert token.prefix in again


def test_the_list_shows_name_prefix_created_and_last_used(alice_client, user):
    create(alice_client, "web shop")
    create(alice_client, "nightly job")
    ApiToken.objects.filter(name="web shop").update(last_used_at="2026-03-04T05:06:07Z")
    page = alice_client.get(reverse("api_tokens:list"))
    html = page.content.decode()
    rows = list(page.context["tokens"])
    assert [t.name for t in rows] == ["nightly job", "web shop"]  # newest first
    for token in rows:
        assert token.name in html and f"{token.prefix}…" in html
        assert token.created_at.strftime("%Y-%m-%dT%H:%M") in html
    assert "2026-03-04T05:06:07" in html  # the web shop's last use
    assert ">never<" in html  # the nightly job's


def test_a_name_is_required(alice_client):
    response = create(alice_client, "  ")
    assert response.status_code == 200 and response.context["new_token"] is None
    assert "This field is required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoke_deletes_the_owners_token(alice_client, user):
    create(alice_client)
    token = ApiToken.objects.get()
    response = alice_client.post(reverse("api_tokens:revoke", args=[token.pk]), follow=True)
    assert response.status_code == 200
    assert "is revoked" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_another_user_cannot_revoke_or_see_your_token(alice_client, other_user):
    create(alice_client)
    token = ApiToken.objects.get()
    client = Client()
    client.force_login(other_user)
    assert client.post(reverse("api_tokens:revoke", args=[token.pk])).status_code == 404
    assert token.prefix not in client.get(reverse("api_tokens:list")).content.decode()
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_the_page_needs_a_login_and_revoke_needs_a_post(alice_client):
    response = Client().get(reverse("api_tokens:list"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]
    create(alice_client)
    token = ApiToken.objects.get()
    assert alice_client.get(reverse("api_tokens:revoke", args=[token.pk])).status_code == 405


def test_the_top_bar_links_to_the_tokens_page(alice_client):
    html = alice_client.get(reverse("datasets:list")).content.decode()
    assert f'href="{reverse("api_tokens:list")}"' in html
