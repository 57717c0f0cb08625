"""Dataset presets and transforms, on tiny replicas of each source layout built in tmp_path."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import io
import json
import pickle
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from datasets import ClassLabel, Dataset, Image, Value
from PIL import Image as PILImage

from adm_hf.data import PRESETS, build_transforms, collate_images, load_preset, validate_images

CIFAR10_PARQUET = Path(__file__).resolve().parents[2] / "shared/datasets/cifar10/train.parquet"
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
HALF = {"mean": [0.5] * 3, "std": [0.5] * 3}


@pytest.fixture(scope="session", autouse=True)
def datasets_cache(tmp_path_factory):
    """Keep the Arrow caches `load_dataset` writes for local files out of the user's cache."""
    previous = datasets.config.HF_DATASETS_CACHE
    datasets.config.HF_DATASETS_CACHE = tmp_path_factory.mktemp("hf_datasets_cache")
    yield
    datasets.config.HF_DATASETS_CACHE = previous


def write_jpeg(path: Path, value: int, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", (size, size), (value, 255 - value, value // 2)).save(path, format="JPEG")


def png_bytes(color, size=(16, 16)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def row_image(row) -> PILImage.Image:
    """Decode a preset row's (undecoded) image the way a user would."""
    image = row["image"]
    return PILImage.open(io.BytesIO(image["bytes"]) if image["bytes"] else image["path"])


# --- CUB-200-2011 -----------------------------------------------------------------------------

CUB_CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
CUB_IS_TRAIN = [1, 0, 1, 1]  # per image within a class: 9 train, 3 test


@pytest.fixture
def cub_parent(tmp_path) -> Path:
    root = tmp_path / "CUB_200_2011"
    images, labels, split, boxes = [], [], [], []
    image_id = 0
    for class_id, class_dir in enumerate(CUB_CLASSES, start=1):
        for k, is_train in enumerate(CUB_IS_TRAIN):
            image_id += 1
            relpath = f"{class_dir}/{class_dir.split('.')[1]}_{k:04d}.jpg"
            write_jpeg(root / "images" / relpath, 20 * image_id)
            images.append(f"{image_id} {relpath}")
            labels.append(f"{image_id} {class_id}")
            split.append(f"{image_id} {is_train}")
            boxes.append(f"{image_id} {image_id}.0 {image_id + 1}.5 3.0 4.0")
    (root / "images.txt").write_text("\n".join(images) + "\n")
    (root / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (root / "train_test_split.txt").write_text("\n".join(split) + "\n")
    (root / "bounding_boxes.txt").write_text("\n".join(boxes) + "\n")
    (root / "classes.txt").write_text("\n".join(f"{i} {name}" for i, name in enumerate(CUB_CLASSES, 1)) + "\n")
    return tmp_path


def test_cub_schema_names_and_official_split(cub_parent):
    ds = load_preset("cub200", source=str(cub_parent / "CUB_200_2011"))
    train, eval_ = ds["train"], ds["eval"]
    assert train.features["label"].names == ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]
    assert isinstance(train.features["image"], Image)
    assert train.features["index"] == Value("int64")
    assert (len(train), len(eval_)) == (9, 3)
    assert train["index"] == list(range(9)) and eval_["index"] == list(range(3))
    for split, expected_k in ((train, {0, 2, 3}), (eval_, {1})):
        for row in split:
            path = Path(row["image"]["path"])
            assert path.parent.name == CUB_CLASSES[row["label"]]  # label matches the image's class folder
            assert int(path.stem[-4:]) in expected_k  # split follows train_test_split.txt
            assert row_image(row).size == (8, 8)


def test_cub_bounding_boxes(cub_parent):
    ds = load_preset("cub200", source=str(cub_parent / "CUB_200_2011"))
    first_test = ds["eval"][0]  # image id 2: class 1, k = 1
    assert first_test["image"]["path"].endswith("Black_footed_Albatross_0001.jpg")
    assert first_test["bbox"] == [2.0, 3.5, 3.0, 4.0]


def test_cub_parent_directory_and_no_boxes(cub_parent):
    (cub_parent / "CUB_200_2011" / "bounding_boxes.txt").unlink()
    ds = load_preset("cub200", source=str(cub_parent))
    assert (len(ds["train"]), len(ds["eval"])) == (9, 3)
    assert "bbox" not in ds["train"].column_names


def test_cub_from_a_non_layout_source_cleans_class_names(tmp_path):
    """The Hub form goes through the shared column detection; names lose the NNN. prefix too."""
    features = datasets.Features(image=Image(), label=ClassLabel(names=CUB_CLASSES))
    rows = {"image": [png_bytes((i, 0, 0)) for i in range(6)], "label": [0, 1, 2] * 2}
    Dataset.from_dict(rows, features=features).to_parquet(tmp_path / "cub.parquet")
    ds = load_preset("cub200", source=str(tmp_path / "cub.parquet"), validation_fraction=0.5)
    assert ds["train"].features["label"].names == ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]
    assert (len(ds["train"]), len(ds["eval"])) == (3, 3)


def test_cub_missing_images_txt(cub_parent):
    (cub_parent / "CUB_200_2011" / "images.txt").unlink()
    with pytest.raises(FileNotFoundError, match="images.txt"):
        load_preset("cub200", source=str(cub_parent))


def test_cub_missing_image_file(cub_parent):
    missing = cub_parent / "CUB_200_2011/images/002.Laysan_Albatross/Laysan_Albatross_0003.jpg"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match="Laysan_Albatross_0003.jpg"):
        load_preset("cub200", source=str(cub_parent))


def test_cub_class_id_out_of_range(cub_parent):
    labels = cub_parent / "CUB_200_2011" / "image_class_labels.txt"
    labels.write_text(labels.read_text().replace("5 2\n", "5 9\n"))  # image 5 is the first of class 2, a train image
    with pytest.raises(ValueError, match=r"train split, row 3: label 8 is outside \[0, 3\)"):
        load_preset("cub200", source=str(cub_parent))


# --- DomainNet ------------------------------------------------------------------------------

DN_DOMAINS = ("clipart", "real", "sketch")
DN_CLASSES = ("apple", "zebra")


@pytest.fixture
def domainnet_root(tmp_path) -> Path:
    """3 domains x 2 classes x 3 images; per class two images listed for train, one for test."""
    for d, domain in enumerate(DN_DOMAINS):
        lists = {"train": [], "test": []}
        for label, name in enumerate(DN_CLASSES):
            for k in range(3):
                relpath = f"{domain}/{name}/{name}_{k}.jpg"
                write_jpeg(tmp_path / relpath, 40 * d + 10 * k + label)
                lists["train" if k < 2 else "test"].append(f"{relpath} {label}")
        for split, lines in lists.items():
            (tmp_path / f"{domain}_{split}.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_domainnet_leave_one_domain_out(domainnet_root):
    ds = load_preset("domainnet", source=str(domainnet_root), target_domain="sketch")
    train, eval_ = ds["train"], ds["eval"]
    domains = train.features["domain"]
    assert isinstance(domains, ClassLabel)
    assert domains.names == ["clipart", "infograph", "painting", "quickdraw", "real", "sketch"]
    assert train.features["label"].names == list(DN_CLASSES)
    assert sorted(domains.int2str(train["domain"])) == ["clipart"] * 4 + ["real"] * 4  # train lists only
    assert set(domains.int2str(eval_["domain"])) == {"sketch"}
    train_paths = [row["image"]["path"] for row in train]
    assert not any("/sketch/" in path for path in train_paths)
    assert not any(path.endswith("_2.jpg") for path in train_paths)  # source test lists stay out
    sketch_files = {str(path) for path in (domainnet_root / "sketch").rglob("*.jpg")}
    assert {row["image"]["path"] for row in eval_} == sketch_files  # the whole target domain
    for row in list(train) + list(eval_):
        assert Path(row["image"]["path"]).parent.name == DN_CLASSES[row["label"]]
    assert eval_["index"] == list(range(6))


@pytest.mark.parametrize(
    ("target", "message"),
    [("photo", "unknown target_domain 'photo'.*clipart"), ("painting", "'painting' is not in the data.*'real'"),
     (None, "needs target_domain")],
)
def test_domainnet_bad_target(domainnet_root, target, message):
    with pytest.raises(ValueError, match=message):
        load_preset("domainnet", source=str(domainnet_root), target_domain=target)


def test_domainnet_missing_split_file(domainnet_root):
    (domainnet_root / "real_train.txt").unlink()
    with pytest.raises(FileNotFoundError, match="real_train.txt"):
        load_preset("domainnet", source=str(domainnet_root), target_domain="clipart")


def test_domainnet_hub_form_with_domain_column():
    """A source with a `domain` column (the Hub form) gets the same protocol, by domain name."""
    rows = [("real", 0), ("sketch", 1), ("clipart", 0), ("sketch", 0), ("real", 1)]
    source = datasets.DatasetDict(
        train=Dataset.from_dict(
            {"image": [png_bytes((i, 0, 0)) for i in range(5)], "label": [label for _, label in rows],
             "domain": [domain for domain, _ in rows]},
            features=datasets.Features(image=Image(), label=ClassLabel(names=["a", "b"]), domain=Value("string")),
        ),
    )
    from adm_hf.data.domainnet import leave_one_domain_out

    split = leave_one_domain_out(source, "sketch")
    names = split["train"].features["domain"].names
    assert [names[d] for d in split["train"]["domain"]] == ["real", "clipart", "real"]
    assert [names[d] for d in split["eval"]["domain"]] == ["sketch", "sketch"]


# --- digits ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return load_preset("digits")


def test_digits_sizes_names_and_images(digits):
    train, eval_ = digits["train"], digits["eval"]
    assert len(train) + len(eval_) == 1797
    assert len(eval_) == 180  # ceil(0.1 * 1797)
    assert train.features["label"].names == [str(d) for d in range(10)]
    image = row_image(train[0])
    assert (image.mode, image.size) == ("RGB", (8, 8))
    assert max(max(row_image(train[i]).getextrema(), key=lambda band: band[1])[1] for i in range(20)) == 255


def test_digits_split_is_stratified_and_seeded(digits):
    counts = Counter(digits["eval"]["label"])
    assert sorted(counts) == list(range(10)) and all(17 <= n <= 19 for n in counts.values())
    assert load_preset("digits", seed=42)["eval"]["label"] == digits["eval"]["label"]
    assert load_preset("digits", seed=7)["eval"]["label"] != digits["eval"]["label"]


# --- CIFAR-10 slice, parquet, save_to_disk, imagefolder ------------------------------------------

@pytest.fixture(scope="module")
def cifar_slice(tmp_path_factory) -> Path:
    if not CIFAR10_PARQUET.is_file():
        pytest.skip(f"{CIFAR10_PARQUET} not present")
    source = pq.ParquetFile(CIFAR10_PARQUET)
    table = pa.Table.from_batches([next(source.iter_batches(batch_size=200))])
    path = tmp_path_factory.mktemp("cifar") / "cifar10-200.parquet"
    pq.write_table(table.replace_schema_metadata(source.schema_arrow.metadata), path)
    return path


def test_cifar10_from_local_parquet(cifar_slice):
    ds = load_preset("cifar10", source=str(cifar_slice))
    train, eval_ = ds["train"], ds["eval"]
    assert train.column_names == ["image", "label", "index"]
    assert train.features["label"].names == CIFAR10_NAMES
    assert (len(train), len(eval_)) == (180, 20)
    source_counts = Counter(pq.read_table(cifar_slice, columns=["label"])["label"].to_pylist())
    eval_counts = Counter(eval_["label"])
    assert all(abs(eval_counts[c] - source_counts[c] / 10) <= 1 for c in source_counts)  # stratified
    assert row_image(train[0]).size == (32, 32)


def test_cifar10_sample_limits(cifar_slice):
    ds = load_preset("cifar10", source=str(cifar_slice), max_train_samples=50, max_eval_samples=7)
    assert (len(ds["train"]), len(ds["eval"])) == (50, 7)
    assert ds["train"]["index"] == list(range(50))


def test_cifar10_directory_with_test_split_and_save_to_disk(cifar_slice, tmp_path):
    table = pq.read_table(cifar_slice)
    (tmp_path / "pq").mkdir()
    pq.write_table(table.slice(0, 150), tmp_path / "pq" / "train-00000-of-00001.parquet")
    pq.write_table(table.slice(150), tmp_path / "pq" / "test-00000-of-00001.parquet")
    ds = load_preset("cifar10", source=str(tmp_path / "pq"))
    assert (len(ds["train"]), len(ds["eval"])) == (150, 50)  # the test split is the eval split
    expected = table.slice(150)["label"].to_pylist()
    assert ds["eval"]["label"] == expected

    datasets.load_dataset("parquet", data_dir=str(tmp_path / "pq")).save_to_disk(tmp_path / "saved")
    saved = load_preset("cifar10", source=str(tmp_path / "saved"))
    assert saved["eval"]["label"] == expected and saved["train"].features["label"].names == CIFAR10_NAMES


def test_parquet_preset_detects_columns(cifar_slice):
    ds = load_preset("parquet", source=str(cifar_slice), validation_fraction=0.25)
    assert ds["train"].features["label"].names == CIFAR10_NAMES
    assert (len(ds["train"]), len(ds["eval"])) == (150, 50)


def test_cifar100_picks_fine_or_coarse_labels(tmp_path):
    features = datasets.Features(
        img=Image(), fine_label=ClassLabel(names=["apple", "bee", "cup", "dolphin"]),
        coarse_label=ClassLabel(names=["fruit", "insect"]),
    )
    rows = {"img": [png_bytes((i, i, i)) for i in range(8)], "fine_label": [0, 1, 2, 3] * 2, "coarse_label": [0, 1] * 4}
    Dataset.from_dict(rows, features=features).to_parquet(tmp_path / "c100.parquet")
    fine = load_preset("cifar100", source=str(tmp_path / "c100.parquet"), validation_fraction=0.5)
    coarse = load_preset("cifar100", source=str(tmp_path / "c100.parquet"), validation_fraction=0.5, coarse_labels=True)
    assert fine["train"].features["label"].names == ["apple", "bee", "cup", "dolphin"]
    assert coarse["train"].features["label"].names == ["fruit", "insect"]
    with pytest.raises(ValueError, match="which column holds the label"):
        load_preset("parquet", source=str(tmp_path / "c100.parquet"))  # two ClassLabels: ambiguous


@pytest.fixture
def image_folder(tmp_path) -> Path:
    for label, name in enumerate(("cat", "dog")):
        for k in range(5):
            write_jpeg(tmp_path / "folder" / name / f"{name}{k}.jpg", 50 * label + k, size=16)
    return tmp_path / "folder"


def test_imagefolder(image_folder):
    ds = load_preset("imagefolder", source=str(image_folder), validation_fraction=0.2)
    assert ds["train"].features["label"].names == ["cat", "dog"]
    assert (len(ds["train"]), len(ds["eval"])) == (8, 2)
    assert sorted(ds["eval"]["label"]) == [0, 1]
    for row in ds["train"]:
        assert Path(row["image"]["path"]).parent.name == ["cat", "dog"][row["label"]]


# --- transforms -----------------------------------------------------------------------------

def image_batch(*colors, size=(16, 16)):
    return {"image": [PILImage.new("RGB", size, color) for color in colors], "label": list(range(len(colors))),
            "index": list(range(len(colors))), "domain": [0] * len(colors)}


def test_eval_transform_shapes_normalisation_and_determinism():
    processor = SimpleNamespace(size={"height": 8, "width": 12}, image_mean=[0.5] * 3, image_std=[0.25] * 3)
    transform = build_transforms(processor, train=False)
    out = transform(image_batch((255, 255, 255), (0, 0, 0), (255, 0, 0), size=(24, 16)))
    assert set(out) == {"pixel_values", "labels"}  # index/domain dropped for Trainer
    assert out["labels"] == [0, 1, 2]
    white, black, red = out["pixel_values"]
    assert type(white) is torch.Tensor and white.dtype == torch.float32 and white.shape == (3, 8, 12)
    assert torch.allclose(white, torch.full_like(white, 2.0))  # (1 - 0.5) / 0.25
    assert torch.allclose(black, torch.full_like(black, -2.0))
    assert torch.allclose(red[0], torch.full_like(red[0], 2.0))
    assert torch.allclose(red[1], torch.full_like(red[1], -2.0))
    again = transform(image_batch((255, 255, 255), (0, 0, 0), (255, 0, 0), size=(24, 16)))
    assert all(torch.equal(a, b) for a, b in zip(out["pixel_values"], again["pixel_values"]))


def test_eval_transform_resizes_shortest_edge_then_centre_crops():
    """size 16 with crop_pct 0.5: resize the 64px image to 32, crop the central 16."""
    image = PILImage.new("RGB", (64, 64), (0, 0, 0))
    image.paste((255, 255, 255), (24, 24, 40, 40))  # a white 16px square in the centre
    processor = SimpleNamespace(size={"shortest_edge": 16}, crop_pct=0.5, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    pixels = build_transforms(processor, train=False)({"image": [image], "label": [0]})["pixel_values"][0]
    assert pixels.shape == (3, 16, 16)
    assert torch.allclose(pixels[:, 5:11, 5:11], torch.ones(3, 6, 6), atol=1e-3)  # square shrunk to 8px at 4..12
    assert torch.allclose(pixels[:, :3, :3], -torch.ones(3, 3, 3), atol=1e-3)


def test_transforms_accept_a_real_hf_image_processor():
    from transformers import ViTImageProcessor

    processor = ViTImageProcessor(size={"height": 20, "width": 20}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    for train in (True, False):
        out = build_transforms(processor, train=train)(image_batch((10, 20, 30), size=(40, 30)))
        assert out["pixel_values"][0].shape == (3, 20, 20)


@pytest.mark.parametrize("augment", ["rrc", "pad_crop"])
def test_train_transform_is_random(augment):
    torch.manual_seed(0)
    transform = build_transforms(None, train=True, size=16, train_augment=augment, crop_scale=(0.3, 1.0), **HALF)
    image = PILImage.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    outputs = [transform({"image": [image], "label": [3]})["pixel_values"][0] for _ in range(4)]
    assert all(o.shape == (3, 16, 16) and o.dtype == torch.float32 for o in outputs)
    assert any(not torch.equal(outputs[0], o) for o in outputs[1:])


def test_transform_on_a_preset_and_collate(digits):
    transform = build_transforms(None, train=False, size=(32, 32), **HALF)
    dataset = digits["train"].with_transform(transform)
    batch = collate_images([dataset[i] for i in range(5)])
    assert batch["pixel_values"].shape == (5, 3, 32, 32) and batch["pixel_values"].dtype == torch.float32
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == digits["train"]["label"][:5]
    assert -1.0 <= batch["pixel_values"].min() < batch["pixel_values"].max() <= 1.0


def test_transform_pickles_for_dataloader_workers():
    transform = build_transforms(None, train=False, size=(8, 8), **HALF)
    batch = image_batch((30, 60, 90))
    restored = pickle.loads(pickle.dumps(transform))
    assert torch.equal(restored(batch)["pixel_values"][0], transform(batch)["pixel_values"][0])


def test_transform_argument_errors():
    with pytest.raises(ValueError, match="train_augment"):
        build_transforms(None, train=True, size=8, train_augment="mixup", **HALF)
    with pytest.raises(ValueError, match="no size"):
        build_transforms(None, train=False, **HALF)


# --- corrupt images ---------------------------------------------------------------------------

def test_corrupt_file_is_named_by_transform_and_validate_images(image_folder):
    bad = image_folder / "dog" / "dog3.jpg"
    bad.write_bytes(b"this is not a jpeg at all")
    ds = load_preset("imagefolder", source=str(image_folder), validation_fraction=0.2)
    split, row = next((s, r) for s in (ds["train"], ds["eval"]) for r in s if r["image"]["path"] == str(bad))
    transform = build_transforms(None, train=False, size=16, **HALF)
    with pytest.raises(ValueError, match=rf"index {row['index']} \(.*dog3\.jpg\)"):
        split.with_transform(transform)[row["index"]]
    with pytest.raises(ValueError, match=rf"1 of {len(split)} images .*index {row['index']} \(.*dog3\.jpg\)"):
        validate_images(split)
    with pytest.raises(ValueError, match=r"dog3\.jpg"):
        validate_images(split, num_proc=2)
    clean = ds["eval"] if split is ds["train"] else ds["train"]
    assert validate_images(clean) is None


def test_transform_decodes_encoded_images_as_rgb(tmp_path):
    gray = io.BytesIO()
    PILImage.new("L", (8, 8), 51).save(gray, format="PNG")
    rgba = io.BytesIO()
    PILImage.new("RGBA", (8, 8), (255, 0, 0, 0)).save(rgba, format="PNG")
    PILImage.new("P", (8, 8), 0).save(tmp_path / "palette.png")
    batch = {"image": [{"bytes": gray.getvalue(), "path": None}, {"bytes": rgba.getvalue(), "path": None},
                       {"bytes": None, "path": str(tmp_path / "palette.png")}], "label": [0, 0, 0]}
    transform = build_transforms(None, train=False, size=(8, 8), **HALF)
    gray_pixels, red_pixels, palette_pixels = transform(batch)["pixel_values"]
    assert gray_pixels.shape == red_pixels.shape == palette_pixels.shape == (3, 8, 8)
    assert torch.allclose(gray_pixels, torch.full((3, 8, 8), (51 / 255 - 0.5) / 0.5))
    assert torch.allclose(red_pixels[0], torch.ones(8, 8)) and torch.allclose(red_pixels[1:], -torch.ones(2, 8, 8))


def test_corrupt_embedded_bytes_named_by_index():
    rows = {"image": [png_bytes((0, 0, 0)), b"garbage", png_bytes((9, 9, 9))], "label": [0, 1, 0], "index": [0, 1, 2]}
    dataset = Dataset.from_dict(rows, features=datasets.Features(image=Image(decode=False), label=Value("int64"),
                                                                 index=Value("int64")))
    with pytest.raises(ValueError, match="image at index 1"):
        dataset.with_transform(build_transforms(None, train=False, size=8, **HALF))[0:3]


# --- bad input ------------------------------------------------------------------------------

def test_unknown_preset_lists_presets():
    assert PRESETS == ("cifar10", "cifar100", "cub200", "domainnet", "digits", "imagefolder", "parquet")
    with pytest.raises(ValueError, match=r"unknown preset 'imagenet'.*'cifar10'.*'parquet'"):
        load_preset("imagenet")


def test_out_of_range_label_names_split_row_and_value(tmp_path):
    labels = [i % 10 for i in range(30)]
    labels[7] = 12
    meta = {"info": {"features": {"img": {"_type": "Image"},
                                  "label": {"_type": "ClassLabel", "names": [str(i) for i in range(10)]}}}}
    table = pa.table({"img": [{"bytes": png_bytes((1, 2, 3), (4, 4)), "path": None}] * 30, "label": labels})
    pq.write_table(table.replace_schema_metadata({"huggingface": json.dumps(meta)}), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=r"train split, row 7: label 12 is outside \[0, 10\)"):
        load_preset("parquet", source=str(tmp_path / "bad.parquet"))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "digits", "validation_fraction": 0.0}, ValueError, "validation_fraction"),
        ({"name": "digits", "target_domain": "real"}, ValueError, "domainnet preset only"),
        ({"name": "cifar10", "coarse_labels": True}, ValueError, "cifar100 preset only"),
        ({"name": "parquet"}, ValueError, "needs source"),
        ({"name": "parquet", "source": "/no/such/file.parquet"}, FileNotFoundError, "/no/such/file.parquet"),
        ({"name": "cifar10", "source": "./missing/dir"}, FileNotFoundError, "missing/dir"),
    ],
)
def test_argument_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        load_preset(**kwargs)
