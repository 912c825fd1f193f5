"""trainer_api/object_store.py against moto: in-process (mock_aws) and as a real endpoint (ThreadedMotoServer)."""

from __future__ import annotations

import hashlib

import pytest

from tests.trainer_files.conftest import object_names
from trainer_api import object_store
from trainer_api.file_transfer import OBJECT_SHA256_KEY, trial_object
from trainer_api.object_store import ObjectMissing, ObjectStore, ObjectStoreError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_no_bucket_means_no_store():
    assert ObjectStore.from_environment({}) is None
    assert ObjectStore.from_environment({"OBJECT_STORAGE_BUCKET": "  ", "OBJECT_STORAGE_URL": "http://x"}) is None


def test_put_get_open_round_trip_with_the_hash_in_the_metadata(bucket, tmp_path):
    data = b"checkpoint bytes" * 500
    (tmp_path / "checkpoint.pt").write_bytes(data)
    name = trial_object("7-3", "checkpoint.pt")
    bucket.put_file(name, tmp_path / "checkpoint.pt", sha(data))
    head = bucket.client.head_object(Bucket=bucket.bucket, Key=name)
    assert head["Metadata"] == {OBJECT_SHA256_KEY: sha(data)}
    target = tmp_path / "elsewhere" / "7-3" / "checkpoint.pt"
    assert bucket.get_file(name, target) == sha(data)
    assert target.read_bytes() == data
    assert [p.name for p in target.parent.iterdir()] == ["checkpoint.pt"]
    stream, recorded = bucket.open(name)
    with stream:
        assert stream.read() == data
    assert recorded == sha(data)


def test_a_missing_object_is_object_missing_naming_it(bucket, tmp_path):
    with pytest.raises(ObjectMissing, match="trials/1-0/model.pth"):
        bucket.get_file("trials/1-0/model.pth", tmp_path / "model.pth")
    with pytest.raises(ObjectMissing, match="trials/1-0/model.pth"):
        bucket.open("trials/1-0/model.pth")
    assert not (tmp_path / "model.pth").exists()


def test_bytes_that_do_not_match_their_metadata_replace_nothing(bucket, tmp_path):
    (tmp_path / "upload").write_bytes(b"altered")
    bucket.put_file("trials/1-0/model.pth", tmp_path / "upload", sha(b"original"))
    target = tmp_path / "have" / "model.pth"
    target.parent.mkdir()
    target.write_bytes(b"older copy")
    with pytest.raises(ObjectStoreError, match="trials/1-0/model.pth") as caught:
        bucket.get_file("trials/1-0/model.pth", target)
    assert not isinstance(caught.value, ObjectMissing)
    assert target.read_bytes() == b"older copy"
    assert [p.name for p in target.parent.iterdir()] == ["model.pth"]
    # A dataset's tar carries its content hash instead: fetched unchecked when asked.
    assert bucket.get_file("trials/1-0/model.pth", target, verify=False) == sha(b"original")
    assert target.read_bytes() == b"altered"


def test_delete_prefix_deletes_only_under_the_prefix(bucket, tmp_path):
    (tmp_path / "f").write_bytes(b"f")
    names = [trial_object("1-0", "model.pth"), trial_object("1-0", "state.json"), trial_object("1-00", "model.pth"),
             trial_object("11-0", "model.pth")]  # fmt: skip
    for name in names:
        bucket.put_file(name, tmp_path / "f", sha(b"f"))
    assert bucket.delete_prefix("trials/1-0/") == 2
    assert object_names(bucket) == [names[2], names[3]]
    assert bucket.delete_prefix("trials/1-0/") == 0
    with pytest.raises(ValueError):
        bucket.delete_prefix("")


def test_delete_prefix_deletes_page_after_page_in_batches(bucket, monkeypatch):
    monkeypatch.setattr(object_store, "LIST_PAGE", 3)
    monkeypatch.setattr(object_store, "DELETE_BATCH", 2)
    for index in range(8):
        bucket.client.put_object(Bucket=bucket.bucket, Key=f"datasets/x/{index}", Body=b"f")
    assert bucket.delete_prefix("datasets/x/") == 8
    assert object_names(bucket) == []


def test_an_unreachable_endpoint_is_an_object_store_error(tmp_path):
    store = ObjectStore.from_environment({"OBJECT_STORAGE_BUCKET": "b", "OBJECT_STORAGE_URL": "http://127.0.0.1:9",
                                          "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
                                          "AWS_DEFAULT_REGION": "us-east-1"})  # fmt: skip
    store.client.meta.config.retries = {"max_attempts": 1}
    (tmp_path / "f").write_bytes(b"f")
    with pytest.raises(ObjectStoreError, match="s3://b/trials/1-0/model.pth"):
        store.put_file("trials/1-0/model.pth", tmp_path / "f", sha(b"f"))


def test_the_moto_server_fixture_is_a_real_endpoint(object_store_env, tmp_path):
    store = ObjectStore.from_environment(object_store_env)
    assert object_store_env["OBJECT_STORAGE_URL"].startswith("http://127.0.0.1:")
    data = b"over http"
    (tmp_path / "f").write_bytes(data)
    store.put_file(trial_object("2-1", "result.json"), tmp_path / "f", sha(data))
    assert store.get_file(trial_object("2-1", "result.json"), tmp_path / "got") == sha(data)
    assert (tmp_path / "got").read_bytes() == data
    assert store.delete_prefix("trials/2-1/") == 1
