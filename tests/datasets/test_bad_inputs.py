"""Bad zips fail with a message naming the problem and the entry; nothing is left behind (issue 2, item 8)."""

import errno
import io
import stat
import time
import zipfile

import pytest
from PIL import Image

from platform_web.datasets.models import Dataset
from tests.datasets.builders import class_folders, dataset_zip, image_bytes, patch_entry
from tests.datasets.conftest import files_under, manifest_of
from worker.ingest import ingestion, job

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def zip_bytes(entries: dict, infos: list[tuple[zipfile.ZipInfo, bytes]] = ()) -> bytes:
    """A zip of valid class folders plus hand-made entries."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for info, data in infos:
            zf.writestr(info, data)
    return out.getvalue()


def assert_failed(dataset: Dataset, *fragments: str) -> None:
    assert dataset.status == Dataset.Status.FAILED
    for fragment in fragments:
        assert fragment in dataset.error, dataset.error
    # Nothing left: no dataset folder, no staging folder, no uploaded zip.
    assert not dataset.directory.exists()
    assert not dataset.staging_directory.exists()
    assert not dataset.upload_path.exists()


@pytest.fixture
def good_dataset(ingest, tmp_path):
    """A ready dataset that must stay untouched by the failures around it."""
    dataset = ingest(dataset_zip(tmp_path / "good.zip"), name="good")
    assert dataset.status == Dataset.Status.READY
    return dataset, {p: p.read_bytes() for p in files_under(dataset.directory)}


def assert_untouched(good) -> None:
    dataset, files = good
    assert {p: p.read_bytes() for p in files_under(dataset.directory)} == files
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.READY and manifest_of(dataset)["classes"] == ["cat", "dog"]


def test_not_a_zip(ingest, good_dataset):
    dataset = ingest(b"just some text, not a zip at all\n" * 20)
    assert_failed(dataset, "not a zip archive")
    assert_untouched(good_dataset)


def test_a_truncated_zip(ingest, good_dataset):
    data = zip_bytes(class_folders())
    dataset = ingest(data[: len(data) // 2])
    assert_failed(dataset, "not a zip archive, or it is damaged")
    assert_untouched(good_dataset)


def test_damaged_entry_data(ingest, good_dataset):
    data = bytearray(zip_bytes(class_folders(per_class=3)))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        victim = zf.getinfo("dog/001.png")
    start = victim.header_offset + 30 + len(victim.filename) + len(victim.extra)
    for i in range(start + 5, start + victim.compress_size - 2):
        data[i] ^= 0x5A
    dataset = ingest(bytes(data))
    assert_failed(dataset, "The zip is damaged at entry “dog/001.png”")
    assert_untouched(good_dataset)


def test_encrypted_entry(ingest, good_dataset):
    data = patch_entry(zip_bytes(class_folders() | {"dog/secret.png": image_bytes()}), "dog/secret.png", flag_bits=0x1)
    dataset = ingest(data)
    assert_failed(dataset, "Entry “dog/secret.png” is encrypted", "without a password")
    assert_untouched(good_dataset)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../escape.png", "climbs out of the folder"),
        ("cat/../../escape.png", "climbs out of the folder"),
        ("cat\\..\\..\\escape.png", "climbs out of the folder"),
        ("/etc/escape.png", "is an absolute path"),
        ("C:/Windows/escape.png", "starts with a drive letter"),
        ("d:escape.png", "starts with a drive letter"),
    ],
)
def test_entry_escaping_the_folder(ingest, good_dataset, tmp_path, name, reason):
    dataset = ingest(zip_bytes(class_folders(), [(zipfile.ZipInfo(name), image_bytes())]))
    assert_failed(dataset, f"Unsafe entry “{name}”", reason, "nothing was extracted")
    assert not (tmp_path / "escape.png").exists() and not (dataset.directory.parent.parent / "escape.png").exists()
    assert_untouched(good_dataset)


@pytest.mark.parametrize(
    ("name", "shown", "reason"),
    [
        ("cat/evil\u202egnp.exe.png", "cat/evil\\u202egnp.exe.png", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("cat/a\u200fb.png", "cat/a\\u200fb.png", "U+200F (RIGHT-TO-LEFT MARK)"),
        ("cat/bell\x07.png", "cat/bell\\u0007.png", "U+0007"),
    ],
)
def test_entry_with_an_invisible_character_is_refused_and_shown_escaped(ingest, good_dataset, name, shown, reason):
    dataset = ingest(zip_bytes(class_folders(), [(zipfile.ZipInfo(name), image_bytes())]))
    assert_failed(dataset, f"Unsafe entry “{shown}”", reason, "Rename or move it", "nothing was extracted")
    assert name not in dataset.error  # the raw name, invisible characters and all, is never stored
    assert_untouched(good_dataset)


def test_a_path_thousands_of_folders_deep_gets_a_message_that_says_what_to_fix(ingest, good_dataset):
    deep = "d/" * 10_000 + "cat/001.png"
    dataset = ingest(zip_bytes(class_folders(), [(zipfile.ZipInfo(deep), image_bytes())]))
    assert_failed(dataset, "is 10,001 folders deep; at most 32 are accepted", "nothing was extracted")
    assert "RecursionError" not in dataset.error and "Upload the zip again" not in dataset.error
    assert len(dataset.error) < 600
    assert_untouched(good_dataset)


def test_symlink_entry(ingest, good_dataset):
    link = zipfile.ZipInfo("cat/link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    dataset = ingest(zip_bytes(class_folders(), [(link, b"/etc/passwd")]))
    assert_failed(dataset, "Unsafe entry “cat/link.png”", "symbolic link")
    assert_untouched(good_dataset)


def test_too_many_entries(ingest, good_dataset, settings):
    settings.ZIP_MAX_ENTRIES = 5
    dataset = ingest(class_folders(per_class=3))
    assert_failed(dataset, "The zip holds 6 entries; the limit is 5")
    assert_untouched(good_dataset)


def test_declared_total_over_the_limit(ingest, good_dataset, settings):
    entries = class_folders(per_class=3)
    settings.ZIP_MAX_TOTAL_BYTES = sum(len(v) for v in entries.values()) - 1
    dataset = ingest(entries)
    assert_failed(dataset, "unpacks to", "more than the limit of")
    assert_untouched(good_dataset)


def test_compression_ratio_over_the_limit(ingest, good_dataset, settings):
    settings.ZIP_MAX_RATIO = 50
    entries = class_folders() | {"cat/bomb.bmp": b"\0" * (3 * 1024 * 1024)}
    dataset = ingest(entries)
    assert_failed(dataset, "Entry “cat/bomb.bmp” unpacks to more than 50 times its compressed size", "zip bomb")
    assert_untouched(good_dataset)


def test_many_small_padded_entries_are_a_bomb_of_the_whole_zip(ingest, good_dataset):
    # Each entry stays under the 1 MiB the per-entry check spares; together they unpack 40 MiB from ~40 KiB.
    padding = b"\0" * (1024 * 1024 - 2048)
    entries = {f"{name}/{n}.png": image_bytes(colour=(40 * n % 255, 90, 30)) + padding
               for name in ("cat", "dog") for n in range(20)}  # fmt: skip
    data = zip_bytes(entries)
    assert len(data) < 100 * 1024
    dataset = ingest(data)
    assert_failed(dataset, "The zip unpacks to", "more than 200 times its size", "zip bomb")
    assert_untouched(good_dataset)


def test_tiny_files_that_decode_to_huge_images_are_refused_before_decoding(ingest, good_dataset):
    out = io.BytesIO()
    Image.new("1", (6000, 6000)).save(out, "PNG")  # 36 million pixels in a few KiB
    huge = out.getvalue()
    entries = class_folders(per_class=3) | {f"cat/huge-{n}.png": huge for n in range(8)}
    started = time.monotonic()
    dataset = ingest(entries)
    assert_failed(dataset, "pixels per byte", "resize the images")
    assert time.monotonic() - started < 20  # refused from the headers, not after decoding them all
    assert_untouched(good_dataset)


def test_declared_sizes_that_lie_are_caught_while_extracting(ingest, good_dataset):
    # The zip says 10 bytes; the data is 3 MiB. Only the real bytes count, and they do not match.
    data = zip_bytes(class_folders() | {"cat/liar.bmp": b"\0" * (3 * 1024 * 1024)})
    dataset = ingest(patch_entry(data, "cat/liar.bmp", file_size=10))
    assert_failed(dataset, "“cat/liar.bmp”")
    assert_untouched(good_dataset)


def test_fewer_than_two_classes(ingest, good_dataset):
    dataset = ingest(class_folders(("cat",), per_class=4))
    assert_failed(dataset, "Found only one class folder (“cat”)", "at least two classes")
    assert_untouched(good_dataset)


def test_a_class_with_fewer_than_two_images(ingest, good_dataset):
    entries = class_folders(("cat", "dog"), per_class=4) | class_folders(("emu",), per_class=1)
    dataset = ingest(entries)
    assert_failed(dataset, "at least two readable images", "“emu” (1)")
    assert_untouched(good_dataset)


def test_a_class_whose_images_are_all_unreadable(ingest, good_dataset):
    entries = class_folders(("cat", "dog"), per_class=3) | {"emu/a.png": b"broken", "emu/b.jpg": b"broken"}
    dataset = ingest(entries)
    assert_failed(dataset, "at least two readable images", "“emu” (0)")


def test_no_image_file_at_all(ingest, good_dataset):
    dataset = ingest({"cat/notes.txt": b"a", "dog/notes.txt": b"b"})
    assert_failed(dataset, "No readable image found")
    assert_untouched(good_dataset)


def test_no_readable_image(ingest, good_dataset):
    dataset = ingest({"cat/1.png": b"not a png", "cat/2.png": b"x", "dog/1.jpg": b"nope", "dog/2.jpg": b"y"})
    assert_failed(dataset, "No readable image found in the zip", "cat/1.png")
    assert_untouched(good_dataset)


def test_given_split_with_different_classes(ingest, good_dataset):
    entries = class_folders(("cat", "dog", "fox"), per_class=3, prefix="train/")
    entries |= class_folders(("cat", "dog", "emu"), per_class=2, prefix="val/")
    dataset = ingest(entries)
    assert_failed(dataset, "classes differ between train/ and val/", "only in train/: fox", "only in val/: emu")
    assert_untouched(good_dataset)


def test_a_missing_upload_fails_clearly(user):
    dataset = Dataset.objects.create(owner=user, name="lost")
    assert job.ingest_dataset(dataset_id=dataset.id) == Dataset.Status.FAILED
    dataset.refresh_from_db()
    assert "no longer on the server" in dataset.error


def test_ready_and_failed_datasets_are_not_ingested_again(ingest, tmp_path):
    dataset = ingest(dataset_zip(tmp_path / "d.zip"))
    assert job.ingest_dataset(dataset_id=dataset.id) == Dataset.Status.READY
    assert (dataset.directory / "manifest.json").exists()


def test_disk_full_while_unpacking_fails_with_a_clear_message_and_keeps_nothing(
    ingest, good_dataset, tmp_path, monkeypatch
):
    real = ingestion.extract_entry
    calls = []

    def fills_the_disk(zf, info, target, budget):
        calls.append(info.filename)
        if len(calls) > 3:  # a few files made it to disk, then the disk is full
            with open(target, "wb") as out:
                out.write(b"half an image")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(zf, info, target, budget)

    monkeypatch.setattr(ingestion, "extract_entry", fills_the_disk)
    dataset = ingest(dataset_zip(tmp_path / "big.zip"))
    assert_failed(dataset, "ran out of disk space", "nothing of it was kept", "upload the zip again")
    assert "Errno" not in dataset.error
    assert_untouched(good_dataset)
