"""A dataset folder travels as one tar and arrives checked: every image, nothing else, nothing altered."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.trainer_api.service.helpers import make_dataset
from trainer_api.dataset_archive import ArchiveError, extract_dataset_tar, stream_dataset_tar
from trainer_api.engine.manifest import read_manifest


def tar_bytes(folder) -> bytes:
    return b"".join(stream_dataset_tar(folder))


def rewritten(data: bytes, change) -> bytes:
    """The tar with `change(name, bytes) -> (name, bytes) | None` applied to every member (None drops it)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as source, tarfile.open(fileobj=out, mode="w") as target:
        for member in source.getmembers():
            changed = change(member.name, source.extractfile(member).read())
            if changed is not None:
                info = tarfile.TarInfo(changed[0])
                info.size = len(changed[1])
                target.addfile(info, io.BytesIO(changed[1]))
    return out.getvalue()


def test_a_dataset_arrives_whole_and_matches_its_content_hash(tmp_path):
    folder = make_dataset(tmp_path / "platform" / "d1")
    data = tar_bytes(folder)
    names = tarfile.open(fileobj=io.BytesIO(data)).getnames()
    assert names[0] == "manifest.json" and not any(name.startswith("thumbs/") for name in names)
    expected = read_manifest(folder).content_hash
    got = extract_dataset_tar(io.BytesIO(data), tmp_path / "host" / "d1", expected_hash=expected)
    assert got == expected
    copy = read_manifest(tmp_path / "host" / "d1")
    assert [p.read_bytes() for p in copy.paths] == [p.read_bytes() for p in read_manifest(folder).paths]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda name, data: (name, data[:-1] + bytes([data[-1] ^ 1])) if name.endswith(".png") else (name, data),
         "content hash"),
        (lambda name, data: None if name.endswith("0.png") else (name, data), "missing"),
        (lambda name, data: (name, data) if name != "manifest.json" else None, "no manifest.json"),
        (lambda name, data: ("../evil.png", data) if name.endswith("1.png") else (name, data), "not a file inside"),
    ],
    ids=["altered", "missing", "no-manifest", "outside"],
)  # fmt: skip
def test_a_damaged_archive_is_refused_and_leaves_nothing(tmp_path, change, message):
    folder = make_dataset(tmp_path / "platform" / "d1")
    with pytest.raises(ArchiveError, match=message):
        extract_dataset_tar(io.BytesIO(rewritten(tar_bytes(folder), change)), tmp_path / "host" / "d1")
    assert not (tmp_path / "host" / "d1").exists()
    assert not [p for p in (tmp_path / "host").iterdir()]  # no partial folder either


def test_an_extra_file_or_another_hash_is_refused(tmp_path):
    folder = make_dataset(tmp_path / "platform" / "d1")
    data = tar_bytes(folder)
    extra = rewritten(data, lambda name, d: (name, d))
    with tarfile.open(fileobj=io.BytesIO(extra)) as source:
        members = [(m.name, source.extractfile(m).read()) for m in source.getmembers()]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as target:
        for name, content in [*members, ("files/extra.sh", b"#!/bin/sh\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            target.addfile(info, io.BytesIO(content))
    with pytest.raises(ArchiveError, match="does not list"):
        extract_dataset_tar(io.BytesIO(out.getvalue()), tmp_path / "host" / "a")
    with pytest.raises(ArchiveError, match="expected"):
        extract_dataset_tar(io.BytesIO(data), tmp_path / "host" / "b", expected_hash="0" * 64)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["content_hash"] != "0" * 64
