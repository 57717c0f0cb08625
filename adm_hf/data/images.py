"""Decoding images so that a broken one is reported by its row, not by a bare PIL traceback."""

from __future__ import annotations

import io
from typing import Any

from datasets import Dataset, Image
from PIL import Image as PILImage
from PIL import ImageOps

DECODE_ERRORS = (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError)


def decode_rgb(value: Any, where: str) -> PILImage.Image:
    """Open a PIL image, a path, or a ``datasets`` ``{"bytes", "path"}`` dict as an RGB image.

    ``where`` (e.g. ``"index 17"``) goes into the error, with the file's path when known.
    """
    if isinstance(value, PILImage.Image):
        return value if value.mode == "RGB" else value.convert("RGB")
    path = value if isinstance(value, str) else value.get("path")
    data = None if isinstance(value, str) else value.get("bytes")
    try:
        image = PILImage.open(io.BytesIO(data) if data is not None else path)
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")
    except DECODE_ERRORS as err:
        file = f" ({path})" if path else ""
        raise ValueError(f"cannot decode the image at {where}{file}: {err}") from err


def validate_images(dataset: Dataset, num_proc: int | None = None) -> None:
    """Decode every image once and raise on the first that fails, naming its index and file.

    Run it before a long job: a corrupt file otherwise surfaces hours into training.
    """
    columns = [name for name in ("image", "index") if name in dataset.column_names]
    encoded = dataset.select_columns(columns).cast_column("image", Image(decode=False))
    errors = encoded.map(
        _decode_errors,
        batched=True,
        with_indices=True,
        num_proc=num_proc,
        remove_columns=columns,
        load_from_cache_file=False,  # files on disk may have changed while the paths did not
        keep_in_memory=True,
        desc="Validating images",
    )["error"]
    bad = [error for error in errors if error is not None]
    if bad:
        raise ValueError(f"{len(bad)} of {len(dataset)} images cannot be decoded; the first: {bad[0]}")


def _decode_errors(batch: dict[str, list], positions: list[int]) -> dict[str, list[str | None]]:
    errors: list[str | None] = []
    for value, index in zip(batch["image"], batch.get("index", positions)):
        try:
            decode_rgb(value, f"index {index}")
            errors.append(None)
        except ValueError as err:
            errors.append(str(err))
    return {"error": errors}
