"""Photos from the public, made safe to keep: decoded fully, turned upright, and written again
with nothing but their pixels.

Why re-encode instead of deleting a few tags: a phone photo carries the phone's GPS position,
its make and serial, the time, sometimes the owner's name — in EXIF, XMP, JPEG comments, PNG
text chunks and more places than a list of known tags would cover. A fresh image built from
the decoded pixels carries none of them, whatever the upload contained. Decoding everything
also refuses files that only look like images (a valid header on a truncated or forged body).

The pixel limit stops decompression bombs (a small file that decodes to gigabytes of pixels);
it is checked on the header, before anything is decoded.
"""
from __future__ import annotations

import io
import re
import warnings

from flask_babel import gettext as _
from PIL import Image, ImageCms, ImageOps

# Our kinds (app/services/update_requests.py _EXTENSIONS) -> Pillow's format names. Only the
# decoder of the type already recognised by its signature may run: a ".jpg" is never handed
# to one of Pillow's many other parsers.
FORMATS = {"jpg": "JPEG", "png": "PNG"}
JPEG_QUALITY = 90  # a phone's own JPEGs are 85-95: no visible loss, files stay a few MB

# Pillow warns between its MAX_IMAGE_PIXELS and twice that (and raises above); our own,
# lower limit decides, so the warning is noise. Set once here rather than per call:
# warnings.catch_warnings() is not thread-safe, and gunicorn serves with threads.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def max_pixels() -> int:
    """The pixel limit of every stored photo (``COMPLAINT_PHOTO_MAX_PIXELS``, 40 MP by default)."""
    from flask import current_app

    return int(current_app.config.get("COMPLAINT_PHOTO_MAX_PIXELS", 40_000_000))


class TooManyPixels(ValueError):
    """A decompression bomb, or simply a photo larger than the limit."""


def _too_many_pixels(pixels: int, max_pixels: int) -> TooManyPixels:
    return TooManyPixels(_("the image has too many pixels (%(mpx)s megapixels; at most %(max)s)",
                           mpx=f"{pixels / 1e6:.0f}", max=f"{max_pixels / 1e6:g}"))


def _bomb_pixels(error: Exception) -> int:
    """The pixel count Pillow names in its DecompressionBombError; at least twice its
    MAX_IMAGE_PIXELS (the point where it raises) when the wording ever changes."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    return int(found.group(1)) if found else 2 * (Image.MAX_IMAGE_PIXELS or 0) + 1


def _unreadable() -> ValueError:
    return ValueError(_("the image cannot be read (the file is damaged or incomplete)"))


def _open(data: bytes, kind: str, max_pixels: int) -> Image.Image:
    """The image with only its header read; ValueError when it is not one or is too large."""
    try:
        image = Image.open(io.BytesIO(data), formats=[FORMATS[kind]])
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(_bomb_pixels(exc), max_pixels) from None
    except Exception:  # any parser error: not an image we can read
        raise _unreadable() from None
    pixels = image.width * image.height
    if pixels > max_pixels or pixels == 0:
        image.close()
        raise _too_many_pixels(pixels, max_pixels) if pixels else _unreadable()
    return image


def refuse_if_too_large(data: bytes, kind: str, max_pixels: int) -> None:
    """Raise the pixel-limit message when the header declares too many pixels; nothing
    otherwise (other problems are reported by the caller's own checks)."""
    try:
        _open(data, kind, max_pixels).close()
    except TooManyPixels:
        raise
    except ValueError:
        pass


def _to_srgb(image: Image.Image) -> Image.Image:
    """Pixels in sRGB, so dropping the embedded colour profile does not change the colours
    (wide-gamut phone photos); left as they are when the profile cannot be used."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image


def without_metadata(data: bytes, kind: str, max_pixels: int) -> bytes:
    """The photo re-encoded in the same format from its pixels only, upright (the EXIF
    orientation applied), in sRGB; ValueError with the reason when it cannot be decoded
    or has more than ``max_pixels`` pixels."""
    image = _open(data, kind, max_pixels)
    try:
        with image:
            image.load()  # decode everything now: a truncated or corrupt body fails here
            try:
                upright = ImageOps.exif_transpose(image)
            except Exception:  # EXIF too broken to read its orientation: the pixels are fine
                upright = image
            upright = _to_srgb(upright)
            if upright.mode.startswith("I"):  # 16/32-bit grey: scale down, convert() would clip to white
                upright = upright.convert("I").point(lambda v: v / 256).convert("L")
            # Modes the format stores plainly; palette, CMYK, 1-bit, ... become RGB(A).
            if upright.mode not in (("RGB", "L") if kind == "jpg" else ("RGB", "RGBA", "L", "LA")):
                has_alpha = "A" in upright.getbands() or "transparency" in upright.info
                upright = upright.convert("RGBA" if has_alpha and kind == "png" else "RGB")
            # A new image gets an empty .info: no exif, xmp, comment, icc_profile, dpi or text
            # chunk can ride along into save(), which copies some of them from .info by itself.
            clean = Image.new(upright.mode, upright.size)
            clean.paste(upright)
    except Exception:  # truncated data, broken zlib stream or Huffman tables, ...
        raise _unreadable() from None
    out = io.BytesIO()
    if kind == "jpg":
        clean.save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        clean.save(out, "PNG")
    return out.getvalue()
