"""Smoke tests of the accuracy and claims benchmarks: each script runs `--quick` on a tiny CIFAR-10 slice and writes
finite numbers. Accuracies are not asserted (one epoch of a tiny model is noise)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CIFAR10_PARQUET = Path(__file__).resolve().parents[2] / "shared/datasets/cifar10/train.parquet"

pytestmark = pytest.mark.skipif(not CIFAR10_PARQUET.is_file(), reason=f"{CIFAR10_PARQUET} is absent")


def bench(script: str, *args: str, out_dir: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(out_dir / "hf_cache")}
    command = [sys.executable, str(REPO / "benchmarks" / script), *args, "--quick", "--out-dir", str(out_dir),
               "--train-file", str(CIFAR10_PARQUET)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench")


def test_accuracy_quick_writes_runs_and_table(out_dir):
    bench("accuracy.py", "--setting", "noisy", "--seeds", "0", "--methods", "erm", "sam", "loss_spl_sam",
          "adm_spl_sam", out_dir=out_dir)
    runs = [json.loads(p.read_text()) for p in (out_dir / "runs").glob("noisy_*.json")]
    assert {r["method"] for r in runs} == {"erm", "sam", "loss_spl_sam", "adm_spl_sam"}
    for r in runs:
        assert all(finite(r[k]) for k in ("val_accuracy", "held_out_accuracy", "train_seconds"))
        assert all(finite(v) for v in r["auroc_posthoc"].values())
    assert finite(next(r for r in runs if r["method"] == "adm_spl_sam")["auroc_table"])
    assert (out_dir / "tables" / "noisy_adm_spl_sam_s0.parquet").is_file()
    assert "ADM-SPL + SAM" in (out_dir / "accuracy_noisy.md").read_text()


def test_claims_quick_writes_ablation_auroc_and_informativeness(out_dir):
    bench("claims.py", "ablation", out_dir=out_dir)  # reuses noisy_adm_spl_sam_s0 from the test above if present
    assert "clean_loss" in (out_dir / "ablation.md").read_text()
    bench("claims.py", "auroc", out_dir=out_dir)
    assert "ADM / clean loss" in (out_dir / "auroc.md").read_text()
    bench("claims.py", "informativeness", out_dir=out_dir)
    result = json.loads((out_dir / "claims" / "informativeness.json").read_text())
    assert len(result["points"]) == 3  # before training + 2 epochs
    assert all(finite(p[k]) for p in result["points"] for k in ("loss_cv", "grad_norm_cv", "adm_none_cv"))
    assert (out_dir / "informativeness.png").stat().st_size < 200_000
