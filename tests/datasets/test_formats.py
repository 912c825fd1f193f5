"""Every accepted image format and colour mode ingests; sizes are recorded after EXIF orientation."""

import io

import pytest
from PIL import Image

from platform_web.datasets.models import Dataset
from tests.datasets.builders import class_folders, image_bytes
from tests.datasets.conftest import manifest_of
from trainer_api.engine.images import open_rgb

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def exif_rotated_jpeg() -> bytes:
    """A 24x16 JPEG whose EXIF says 'rotate 90°': it is 16x24 once oriented."""
    image = Image.new("RGB", (24, 16), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def animated_gif() -> bytes:
    """Two frames: red first, blue second."""
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


FORMATS = {
    "mix/grey.png": (image_bytes("PNG", mode="L"), (24, 16)),
    "mix/palette.png": (image_bytes("PNG", mode="P"), (24, 16)),
    "mix/cmyk.jpg": (image_bytes("JPEG", mode="CMYK"), (24, 16)),
    "mix/alpha.png": (image_bytes("PNG", mode="RGBA"), (24, 16)),
    "mix/plain.bmp": (image_bytes("BMP"), (24, 16)),
    "mix/photo.JPEG": (image_bytes("JPEG"), (24, 16)),
    "mix/still.gif": (image_bytes("GIF"), (24, 16)),
    "mix/animated.gif": (animated_gif(), (20, 20)),
    "mix/scan.tiff": (image_bytes("TIFF"), (24, 16)),
    "mix/scan2.tif": (image_bytes("TIFF", mode="CMYK"), (24, 16)),
    "mix/web.webp": (image_bytes("WEBP"), (24, 16)),
    "mix/rotated.jpg": (exif_rotated_jpeg(), (16, 24)),
}


def test_formats_and_colour_modes(ingest):
    entries = {name: data for name, (data, _) in FORMATS.items()} | class_folders(("other",), per_class=5)
    dataset = ingest(entries)
    assert dataset.status == Dataset.Status.READY, dataset.error
    assert dataset.warnings == []
    items = {item["path"]: item for item in manifest_of(dataset)["items"]}
    for name, (_, size) in FORMATS.items():
        item = items[f"files/{name}"]
        assert (item["width"], item["height"]) == size, name
        with open_rgb(dataset.directory / item["path"]) as image:
            assert image.mode == "RGB" and image.size == size, name
    with open_rgb(dataset.directory / "files/mix/animated.gif") as image:
        assert image.getpixel((10, 10)) == (255, 0, 0)  # the first frame
    assert dataset.size_stats["width"]["max"] == 24 and dataset.size_stats["height"]["max"] == 24


def test_thumbnails_are_small_rgb_jpegs(ingest):
    entries = {name: data for name, (data, _) in FORMATS.items()} | class_folders(("other",), per_class=5)
    dataset = ingest(entries)
    for files in dataset.thumbnails.values():
        for name in files:
            with Image.open(dataset.directory / "thumbs" / name) as thumb:
                assert thumb.format == "JPEG" and thumb.mode == "RGB" and thumb.size == (96, 96)
