"""Smoke tests of the speed and scale benchmarks: they run end to end and report every method (no timing asserted).

One torch thread: the tests must stay fast on a loaded two-core machine, where two threads per process oversubscribe.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import scale  # noqa: E402
import speed  # noqa: E402


def _finite_positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def test_speed_quick_reports_every_method(tmp_path):
    out = tmp_path / "speed.json"
    speed.main(["--quick", "--repeats", "1", "--threads", "1", "--no-memory", "--out", str(out)])
    result = json.loads(out.read_text())
    assert set(result["methods"]) == set(speed.METHODS)
    for row in result["methods"].values():
        assert _finite_positive(row["median_s"])
        assert _finite_positive(row["ratio_to_erm"]) and _finite_positive(row["ratio_to_sam"])
    assert result["methods"]["erm"]["ratio_to_erm"] == pytest.approx(1.0)
    assert set(result["targets"]) == {"sam_vs_erm", "adm_sam_vs_erm", "adm_sam_vs_sam", "sam_vs_peer"}


def test_speed_memory_probe_runs_in_a_subprocess(tmp_path):
    argv = ["--quick", "--repeats", "1", "--threads", "1", "--out", str(tmp_path / "speed.json")]
    memory = speed.measure_memory("sam", argv)
    assert _finite_positive(memory["peak_rss_mb"]) and memory["train_growth_mb"] >= 0


def test_scale_quick(tmp_path):
    out = tmp_path / "scale.json"
    scale.main(["--quick", "--out", str(out)])
    result = json.loads(out.read_text())
    for value in result["per_epoch"].values():
        assert _finite_positive(value)
    assert result["memory"]["table_bytes_per_sample"] == 16
    assert result["gather_bytes_per_sample"]["adm"]["total"] > result["gather_bytes_per_sample"]["loss"]["total"]
