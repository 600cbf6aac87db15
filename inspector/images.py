"""Open a user's image safely: size caps checked before decoding, clear one-line errors.

The caps stop a researcher's browser upload (or a samples row) from exhausting memory: the file size is
checked on disk, the pixel count from the header (PIL reads it without decoding), and only then is the image
decoded.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from inspector.errors import InputError

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # 20 MB
MAX_IMAGE_PIXELS = 50_000_000  # 50 MP, below PIL's own decompression-bomb error (2 x 89 MP)


def open_image(
    path: str | Path, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
) -> Image.Image:
    """The image at ``path`` decoded as RGB; :class:`InputError` for a missing, huge or non-image file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image {path}: file not found; upload an image or fix the path")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"image {path.name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB cap; "
            "downscale it first"
        )
    try:
        with Image.open(path) as header:
            width, height = header.size
            if width * height > max_pixels:
                raise InputError(
                    f"image {path.name}: {width}x{height} = {width * height / 1e6:.1f} MP is over the "
                    f"{max_pixels / 1e6:.0f} MP cap; downscale it first"
                )
            return header.convert("RGB")
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise InputError(
            f"image {path.name}: not a readable image ({type(err).__name__}); upload a PNG or JPEG"
        ) from err
    except OSError as err:  # truncated or corrupt data surfaces on decode
        raise InputError(f"image {path.name}: cannot be decoded ({err}); re-save it as PNG or JPEG") from err
