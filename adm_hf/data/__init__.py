"""Dataset presets on ``datasets`` with one schema, and the transforms that feed ``Trainer``.

``load_preset`` returns ``DatasetDict(train, eval)`` with ``image``, ``label`` (named classes)
and ``index`` (the row id the curriculum keys its scores on); ``build_transforms`` and
``collate_images`` turn it into ``pixel_values``/``labels`` batches.
"""

from adm_hf.data.images import validate_images
from adm_hf.data.presets import PRESETS, load_preset
from adm_hf.data.transforms import build_transforms, collate_images

__all__ = ["PRESETS", "build_transforms", "collate_images", "load_preset", "validate_images"]
