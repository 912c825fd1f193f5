import pytest
from django.urls import reverse

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_sign_up_logs_the_person_in_and_lands_on_datasets(client):
    response = client.post(
        reverse("accounts:signup"),
        {
            "username": "bob",
            "email": "bob@example.com",
            "password1": "tune-my-models-42",
            "password2": "tune-my-models-42",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("datasets:list")
    assert client.get(reverse("datasets:list")).status_code == 200


def test_sign_up_with_mismatched_passwords_shows_the_error(client):
    response = client.post(
        reverse("accounts:signup"), {"username": "bob", "password1": "tune-my-models-42", "password2": "other-42x"}
    )
    assert response.status_code == 200
    assert "didn’t match" in response.content.decode()


def test_log_in_and_log_out(client, user):
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "a-long-test-password"})
    assert response.status_code == 302
    assert client.get(reverse("datasets:list")).status_code == 200
    client.post(reverse("accounts:logout"))
    response = client.get(reverse("datasets:list"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_wrong_password_is_refused(client, user):
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_admin_works_for_staff(client, django_user_model):
    staff = django_user_model.objects.create_superuser(username="root", password="x-long-password-1", email="r@x.io")
    client.force_login(staff)
    assert client.get("/admin/datasets/dataset/").status_code == 200
    assert client.get("/admin/studies/study/").status_code == 200


def test_home_page_for_visitors(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "Create an account" in response.content.decode()


def test_thirty_wrong_passwords_meet_a_limit_that_the_right_one_does_not_lift(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    url = reverse("accounts:login")
    codes = [client.post(url, {"username": "alice", "password": f"guess-{n}"}).status_code for n in range(30)]
    assert codes[:4] == [200] * 4 and set(codes[5:]) == {429}
    response = client.post(url, {"username": "alice", "password": "a-long-test-password"})
    assert response.status_code == 429 and "Too many failed logins" in response.content.decode()
    assert client.get(reverse("datasets:list")).status_code == 302  # still not logged in


def test_sign_ups_per_address_are_limited(client, settings):
    settings.SIGNUPS_PER_IP_PER_HOUR = 3
    codes = []
    for n in range(5):
        client.logout()
        body = {"username": f"user{n}", "password1": "tune-my-models-42", "password2": "tune-my-models-42"}
        codes.append(client.post(reverse("accounts:signup"), body).status_code)
    assert codes == [302, 302, 302, 429, 429]
    response = client.post(reverse("accounts:signup"), {"username": "x", "password1": "a", "password2": "a"})
    assert "3 accounts were made from your address in the last hour" in response.content.decode()
