"""app/services/images.py on images of every mode a PNG or JPEG can hold: what comes out is
the same picture with nothing but pixels, in a mode the format stores plainly."""
import io

import pytest
from PIL import Image, ImageCms

from app.services.images import TooManyPixels, without_metadata

LIMIT = 10_000_000


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def clean(data: bytes, kind: str) -> Image.Image:
    out = without_metadata(data, kind, LIMIT)
    image = Image.open(io.BytesIO(out))
    assert image.format == {"jpg": "JPEG", "png": "PNG"}[kind] and not image.getexif()
    assert not {"exif", "xmp", "comment", "icc_profile", "transparency"} & set(image.info)
    return image


def test_16_bit_grey_is_scaled_not_clipped():
    image = Image.new("I;16", (4, 1))
    image.putdata([0, 1000, 30000, 65535])
    out = clean(encoded(image, "PNG"), "png")
    assert out.mode == "L" and out.tobytes() == bytes([0, 3, 117, 255])


def test_a_palette_with_a_transparent_colour_keeps_its_transparency():
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putdata([0, 1])
    out = clean(encoded(image, "PNG", transparency=0), "png")
    assert out.mode == "RGBA" and out.getpixel((0, 0))[3] == 0 and out.getpixel((1, 0)) == (0, 0, 255, 255)


@pytest.mark.parametrize("mode,fmt,kind,expected", [
    ("1", "PNG", "png", "RGB"), ("L", "PNG", "png", "L"), ("LA", "PNG", "png", "LA"), ("RGBA", "PNG", "png", "RGBA"),
    ("L", "JPEG", "jpg", "L"), ("CMYK", "JPEG", "jpg", "RGB"), ("RGB", "JPEG", "jpg", "RGB"),
])
def test_every_mode_comes_out_in_a_plain_one(mode, fmt, kind, expected):
    image = Image.new(mode, (8, 6))
    out = clean(encoded(image, fmt), kind)
    assert out.mode == expected and out.size == (8, 6)


def test_a_colour_profile_is_applied_then_dropped():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.new("RGB", (8, 8), (200, 100, 50))
    out = clean(encoded(image, "PNG", icc_profile=srgb), "png")
    assert out.getpixel((0, 0)) == (200, 100, 50)


def test_broken_exif_keeps_the_pixels():
    image = Image.new("RGB", (8, 8), (0, 128, 0))
    data = encoded(image, "JPEG", exif=b"Exif\x00\x00MM\x00*\xff\xff\xff\xff")  # IFD offset past the end
    out = clean(data, "jpg")
    assert out.size == (8, 8) and abs(out.getpixel((4, 4))[1] - 128) < 8


def test_the_limit_is_on_the_header_and_a_wrong_decoder_never_runs():
    big = encoded(Image.new("1", (4000, 3000)), "PNG")
    with pytest.raises(TooManyPixels):
        without_metadata(big, "png", 11_999_999)
    assert without_metadata(big, "png", 12_000_000)
    with pytest.raises(ValueError, match="cannot be read"):
        without_metadata(encoded(Image.new("RGB", (4, 4)), "PNG"), "jpg", LIMIT)  # a PNG is not read as JPEG
