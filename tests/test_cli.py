"""`adm-hf` end to end on the embedded digits dataset, in process and offline."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import contextlib
import io
import json

import numpy as np
import pytest
from datasets import Dataset
from transformers import AutoModelForImageClassification, TrainingArguments

from adm_hf.cli import CLI_DEFAULTS, export_difficulty, main, parse_train_args
from adm_hf.model_card import render_model_card, write_model_card

QUICK = ["--max_train_samples", "200", "--num_train_epochs", "1", "--per_device_train_batch_size", "32", "--use_cpu"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One short `adm-hf train` run shared by the tests that inspect its outputs: (output_dir, stdout)."""
    output_dir = tmp_path_factory.mktemp("run")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        main(["train", "--output_dir", str(output_dir), "--sam_rho", "0.1", *QUICK])
    return output_dir, stdout.getvalue().splitlines()


def test_train_saves_model_and_prints_accuracy(run):
    output_dir, lines = run
    model = AutoModelForImageClassification.from_pretrained(output_dir)
    assert model.config.num_labels == 10 and model.config.id2label[3] == "3"
    assert (output_dir / "preprocessor_config.json").is_file()
    accuracy = [line for line in lines if line.startswith("eval accuracy: ")]
    assert len(accuracy) == 1 and 0 <= float(accuracy[0].split(": ")[1]) <= 1
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert {"eval_accuracy", "eval_top5_accuracy"} <= set(results)


def test_train_writes_model_card_with_settings(run):
    card = (run[0] / "README.md").read_text()
    for tag in ("adm-hf", "sam", "curriculum-learning", "image-classification"):
        assert f"- {tag}\n" in card
    assert "library_name: transformers" in card and "- digits\n" in card
    assert "| sam_rho | 0.1 |" in card and "| curriculum | sampler |" in card


def test_difficulty_export_csv_and_parquet(run, tmp_path):
    output_dir, _ = run
    main(["difficulty", "--run_dir", str(output_dir)])
    table = Dataset.from_csv(str(output_dir / "difficulty.csv"))
    assert table.column_names == ["index", "score", "label", "times_seen", "last_step"]
    assert len(table) == 200 and table["index"] == list(range(200))
    seen = np.array(table["times_seen"]) > 0
    assert seen.any() and np.isfinite(np.array(table["score"], dtype=float)[seen]).all()
    labels = np.array(table["label"])
    assert set(labels[seen]) <= set(range(10)) and (labels[~seen] == -1).all()  # -1: never scored, label unknown
    parquet = export_difficulty(output_dir, tmp_path / "table.parquet")
    assert Dataset.from_parquet(str(parquet))["label"] == table["label"]


def test_difficulty_without_state_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="adm_curriculum.safetensors.*curriculum"):
        main(["difficulty", "--run_dir", str(tmp_path)])
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        export_difficulty(tmp_path, tmp_path / "table.xlsx")


def test_defaults_and_overrides():
    data_args, model_args, args = parse_train_args([])
    assert (data_args.dataset, model_args.model) == ("digits", "tiny-resnet")
    assert args.output_dir == os.path.join("out", "digits") and args.dataset_name == "digits"
    assert args.remove_unused_columns is False and args.sam
    assert args.num_train_epochs == CLI_DEFAULTS["num_train_epochs"]
    data_args, _, args = parse_train_args(
        ["--dataset", "cifar10", "--num_train_epochs", "2", "--remove_unused_columns", "True"],
        defaults={"learning_rate": 0.1},
    )
    assert args.output_dir == os.path.join("out", "cifar10") and args.dataset_name == "uoft-cs/cifar10"
    assert (args.num_train_epochs, args.learning_rate, args.remove_unused_columns) == (2, 0.1, False)


def test_help_lists_commands_and_every_field(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "train" in text and "difficulty" in text
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--dataset", "--model", "--sam_rho", "--curriculum", "--adm_epsilon", "--learning_rate"):
        assert option in text
    assert "SAM neighbourhood radius" in text and "digits" in text


def test_unknown_dataset_and_model(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "imagenet"])
    assert "invalid choice: 'imagenet'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="Unknown model 'resnet9000'"):
        main(["train", "--model", "resnet9000", "--output_dir", "unused"])


def test_model_card_records_settings_and_results():
    _, _, args = parse_train_args(["--sam_rho", "0.1", "--curriculum", "sampler", "--learning_rate", "0.003"])
    metrics = {"eval_accuracy": 0.9, "eval_top5_accuracy": 1.0, "eval_loss": 0.3, "eval_runtime": 2.0, "epoch": 1.0}
    card = render_model_card(
        args, model_name="me/digits-sam", base_model="microsoft/resnet-18", dataset="digits", metrics=metrics
    )
    front, body = card.split("\n---\n", 1)
    assert front.startswith("---\n") and "base_model: microsoft/resnet-18" in front and "- curriculum-learning" in front
    assert "model-index:" in front and "type: accuracy" in front and "runtime" not in card
    assert "| sam_rho | 0.1 |" in body and "| curriculum | sampler |" in body and "| adm_attack | fgsm |" in body
    assert "| learning_rate | 0.003 |" in body and "| mixed_precision | no |" in body and "| accuracy | 0.9 |" in body
    assert 'pipeline("image-classification", model="me/digits-sam")' in body


def test_model_card_for_plain_training_arguments(tmp_path):
    plain = TrainingArguments(output_dir=str(tmp_path), report_to=[])
    card = render_model_card(plain, model_name="m", base_model="tiny-resnet", dataset=None, metrics=None)
    assert "base_model" not in card.split("\n---\n")[0] and "model-index" not in card
    assert "| sam" not in card and "| learning_rate | 5e-05 |" in card
    assert write_model_card(tmp_path, card).read_text() == card
