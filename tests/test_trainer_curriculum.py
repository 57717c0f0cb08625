"""Difficulty scoring and curricula wired into ADMTrainer: sample identity, online ADM, resume, bad input."""

from __future__ import annotations

import copy

import datasets
import numpy as np
import pytest
import torch
from helpers import NUM_CLASSES, DictDataset, TinyCNN, assert_same_state, config, params_of

from adm_hf import ADMTrainer
from adm_hf.difficulty import adm_scores, input_space_epsilon


def image_dataset(n: int = 40, seed: int = 0) -> datasets.Dataset:
    """A `datasets.Dataset` with raw columns turned into tensors lazily, as the HF image examples do."""
    g = np.random.default_rng(seed)
    ds = datasets.Dataset.from_dict(
        {"img": g.normal(size=(n, 3, 8, 8)).astype("float32").tolist(), "label": g.integers(0, NUM_CLASSES, n)}
    )

    def transform(batch):
        return {"pixel_values": [torch.tensor(x) for x in batch["img"]], "labels": batch["label"]}

    return ds.with_transform(transform)


def collate_pixels_and_labels(examples):
    """Like the transformers example `collate_fn`: keeps only pixel_values and labels."""
    return {
        "pixel_values": torch.stack([e["pixel_values"] for e in examples]),
        "labels": torch.tensor([e["labels"] for e in examples]),
    }


@pytest.mark.parametrize("curriculum", ["spl", "sampler"])
def test_scores_are_keyed_by_dataset_index_through_a_user_collator(tmp_path, curriculum):
    train = image_dataset(n=40)
    trainer = ADMTrainer(
        model=TinyCNN(),
        args=config(tmp_path, curriculum=curriculum, remove_unused_columns=False, max_steps=10),
        train_dataset=train,
        data_collator=collate_pixels_and_labels,
    )
    trainer.train()
    table = trainer.difficulty_table()
    assert table.column_names == ["index", "score", "label", "times_seen", "last_step"]
    seen = np.asarray(table["times_seen"]) > 0
    assert seen.sum() >= 20
    # The label recorded under each index is that sample's label: indices travelled with their samples.
    np.testing.assert_array_equal(np.asarray(table["label"])[seen], np.asarray(train.with_format(None)["label"])[seen])
    assert np.isfinite(np.asarray(table["score"])[seen]).all()
    assert trainer.model.bn.num_batches_tracked.item() == 10  # scoring and the SAM pass left BN stats alone
    logs = [h for h in trainer.state.log_history if "difficulty_mean" in h]
    assert logs and {"difficulty_p50", "sam_skipped_ascents"} <= logs[-1].keys()
    if curriculum == "spl":
        assert {"spl_threshold", "admitted_fraction", "spl_batch_admitted"} <= logs[-1].keys()


def test_spl_weights_change_the_update(tmp_path):
    dataset = DictDataset(n=48)
    runs = {}
    for curriculum in ("none", "spl"):
        model = TinyCNN()
        args = config(tmp_path / curriculum, curriculum=curriculum, curriculum_start_fraction=0.3, max_steps=6)
        ADMTrainer(model=model, args=args, train_dataset=dataset).train()
        runs[curriculum] = params_of(model)
    assert (runs["none"]["head.weight"] - runs["spl"]["head.weight"]).abs().max() > 1e-4


@pytest.mark.parametrize("normalization", ["mean", "clean_loss", "none"])
def test_online_adm_equals_standalone(tmp_path, normalization):
    """The free input gradient of SAM's ascent gives the same scores as scoring the batch from scratch."""
    captured = []

    class Recording(ADMTrainer):
        def _score_batch(self, model, inputs, index, logits, input_grad):
            snapshot = copy.deepcopy(self.accelerator.unwrap_model(model))
            running_mean = self.gap_mean.value
            weights = super()._score_batch(model, inputs, index, logits, input_grad)
            online = torch.as_tensor(self.scores.scores[index.numpy()])
            captured.append((snapshot, inputs["pixel_values"].clone(), inputs["labels"].clone(), running_mean, online))
            return weights

    args = config(tmp_path, curriculum="spl", adm_normalization=normalization, adm_epsilon=8 / 255, max_steps=3)
    Recording(model=TinyCNN(), args=args, train_dataset=DictDataset(n=48)).train()
    assert len(captured) == 3
    for snapshot, x, labels, running_mean, online in captured:
        snapshot.train()
        standalone, _, _ = adm_scores(
            snapshot,
            x,
            labels,
            epsilon=input_space_epsilon(8 / 255, None, 3, device=x.device, dtype=x.dtype),
            normalization=normalization,
            running_mean=running_mean,
        )
        torch.testing.assert_close(online, standalone, atol=1e-5, rtol=0)
        assert standalone.abs().max() > 0


@pytest.mark.parametrize("difficulty", ["loss", "grad_norm"])
def test_classic_difficulties_score_the_clean_pass(tmp_path, difficulty):
    trainer = ADMTrainer(
        model=TinyCNN(),
        args=config(tmp_path, curriculum="spl", difficulty=difficulty, sam=False, max_steps=2),
        train_dataset=DictDataset(n=48),
    )
    trainer.train()
    assert trainer.scores.num_seen == 16


def test_adm_without_sam_scores_every_batch(tmp_path):
    trainer = ADMTrainer(
        model=TinyCNN(),
        args=config(tmp_path, curriculum="spl", sam=False, max_steps=3),
        train_dataset=DictDataset(n=48),
    )
    trainer.train()
    assert trainer.scores.num_seen == 24
    assert trainer.model.bn.num_batches_tracked.item() == 3


@pytest.mark.parametrize("curriculum", ["spl", "sampler"])
def test_resume_reproduces_uninterrupted_run(tmp_path, curriculum):
    dataset = DictDataset(n=40)
    args = dict(
        curriculum=curriculum,
        max_steps=10,
        save_strategy="steps",
        save_steps=7,  # mid-epoch: 5 steps per epoch
        optim="adamw_torch",
        learning_rate=0.01,
        curriculum_start_fraction=0.4,
    )
    straight = ADMTrainer(model=TinyCNN(), args=config(tmp_path / "a", **args), train_dataset=dataset)
    straight.train()
    resumed = ADMTrainer(model=TinyCNN(seed=1), args=config(tmp_path / "b", **args), train_dataset=dataset)
    resumed.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-7"))
    assert_same_state(params_of(straight.model), params_of(resumed.model), atol=1e-6)
    for name in ("scores", "last_step", "times_seen", "labels"):
        np.testing.assert_allclose(getattr(straight.scores, name), getattr(resumed.scores, name), atol=1e-6)


def test_resume_without_curriculum_state_is_refused(tmp_path):
    dataset = DictDataset(n=40)
    args = dict(max_steps=4, save_strategy="steps", save_steps=2)
    ADMTrainer(model=TinyCNN(), args=config(tmp_path / "a", **args), train_dataset=dataset).train()
    trainer = ADMTrainer(
        model=TinyCNN(), args=config(tmp_path / "b", curriculum="spl", **args), train_dataset=dataset
    )
    with pytest.raises(FileNotFoundError, match="adm_curriculum"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2"))


def test_damaged_curriculum_state_is_refused(tmp_path):
    dataset = DictDataset(n=40)
    args = dict(curriculum="spl", max_steps=4, save_strategy="steps", save_steps=2)
    ADMTrainer(model=TinyCNN(), args=config(tmp_path / "a", **args), train_dataset=dataset).train()
    (tmp_path / "a" / "checkpoint-2" / "adm_curriculum.safetensors").write_bytes(b"\x00garbage")
    trainer = ADMTrainer(model=TinyCNN(), args=config(tmp_path / "b", **args), train_dataset=dataset)
    with pytest.raises(ValueError, match="damaged"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2"))


class Unlabelled(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return {"pixel_values": torch.zeros(3, 8, 8)}


class Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        yield from DictDataset(n=8)


class PositionalModel(TinyCNN):
    def forward(self, x, labels=None):
        return super().forward(x, labels)


def test_dataset_without_labels_fails_before_the_first_step(tmp_path):
    trainer = ADMTrainer(model=TinyCNN(), args=config(tmp_path, curriculum="spl"), train_dataset=Unlabelled())
    with pytest.raises(ValueError, match="labels"):
        trainer.train()
    assert trainer.state.global_step == 0


def test_iterable_dataset_with_sampler_is_refused(tmp_path):
    with pytest.raises(ValueError, match="map-style"):
        ADMTrainer(model=TinyCNN(), args=config(tmp_path, curriculum="sampler"), train_dataset=Stream())


def test_adm_on_model_without_pixel_values_is_refused(tmp_path):
    with pytest.raises(ValueError, match="pixel_values"):
        ADMTrainer(model=PositionalModel(), args=config(tmp_path, curriculum="spl"), train_dataset=DictDataset())


def test_spl_with_a_custom_loss_function_is_refused(tmp_path):
    with pytest.raises(ValueError, match="compute_loss_func"):
        ADMTrainer(
            model=TinyCNN(),
            args=config(tmp_path, curriculum="spl"),
            train_dataset=DictDataset(),
            compute_loss_func=lambda outputs, labels, num_items_in_batch=None: outputs["logits"].mean(),
        )


def test_difficulty_table_needs_a_curriculum(tmp_path):
    trainer = ADMTrainer(model=TinyCNN(), args=config(tmp_path), train_dataset=DictDataset())
    with pytest.raises(ValueError, match="curriculum"):
        trainer.difficulty_table()


def test_hard_samples_score_higher(tmp_path):
    """Sanity on real signal: after training, flipped labels get higher ADM scores than clean ones."""
    data = DictDataset(n=96, size=8)
    prototypes = torch.randn(NUM_CLASSES, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    data.x = prototypes[data.y] + 0.3 * data.x
    flipped = torch.arange(96) % 8 == 0
    data.y = torch.where(flipped, (data.y + 1) % NUM_CLASSES, data.y)
    args = config(
        tmp_path, curriculum="spl", curriculum_start_fraction=1.0, max_steps=60, adm_normalization="none",
        adm_epsilon=16 / 255, learning_rate=0.1,
    )
    trainer = ADMTrainer(model=TinyCNN(), args=args, train_dataset=data)
    trainer.train()
    scores = torch.as_tensor(trainer.scores.scores)
    assert scores[flipped].mean() > scores[~flipped].mean()
