"""Health without a token; every other route needs the bearer token; architectures; OpenAPI."""

from __future__ import annotations

import pytest

from tests.trainer_api.service.helpers import trial_body


def test_health_answers_without_a_token(anonymous):
    response = anonymous.get("/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["device"] == "cpu" and body["device_type"] == "cpu"
    assert body["torch"] and body["torchvision"] and body["python"].startswith("3.")
    assert (body["slots_busy"], body["slots_total"]) == (0, 1)
    assert body["files"] == "shared folder"  # no TRAINER_PLATFORM_URL, no bucket: nothing is fetched or sent


@pytest.mark.parametrize(
    "method, path",
    [("get", "/v1/architectures"), ("get", "/v1/trials/abc"), ("get", "/v1/trials/abc/events"),
     ("delete", "/v1/trials/abc"), ("post", "/v1/trials"), ("post", "/v1/predict")],
)  # fmt: skip
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic c2VydmljZS10ZXN0LXRva2Vu"])
def test_every_other_route_refuses_a_missing_or_wrong_token(anonymous, dataset, method, path, header):
    headers = {"Authorization": header} if header else {}
    kwargs = {"json": trial_body("abc", dataset)} if path == "/v1/trials" else {}
    response = anonymous.request(method.upper(), path, headers=headers, **kwargs)
    assert response.status_code == 401
    assert "bearer token" in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_refused_trial_request_starts_nothing(anonymous, dataset, registry):
    anonymous.post("/v1/trials", json=trial_body("sneaky", dataset), headers={"Authorization": "Bearer nope"})
    assert not registry.work_dir("sneaky").exists()


def test_architectures_list_names_minimum_sizes_and_parameter_counts(client):
    response = client.get("/v1/architectures")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()}
    assert {"simple_cnn", "lite_cnn", "cifar_net", "resnet18", "densenet121", "mobilenet_v3_small",
            "efficientnet_b0"} <= set(rows)  # fmt: skip
    assert rows["resnet18"]["min_input_size"] == 32
    assert 11_000_000 < rows["resnet18"]["param_count"] < 11_400_000  # ResNet-18 with a 10-class head
    assert rows["simple_cnn"]["param_count"] < rows["lite_cnn"]["param_count"]


def test_openapi_documents_every_route_with_the_bearer_scheme(anonymous):
    assert anonymous.get("/docs").status_code == 200
    schema = anonymous.get("/openapi.json").json()
    assert {"/v1/health", "/v1/architectures", "/v1/trials", "/v1/trials/{key}", "/v1/trials/{key}/events",
            "/v1/predict"} <= set(schema["paths"])  # fmt: skip
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert "security" not in schema["paths"]["/v1/health"]["get"]
    assert schema["paths"]["/v1/trials"]["post"]["security"] == [{"HTTPBearer": []}]
