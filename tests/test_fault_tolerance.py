"""A run killed with SIGKILL resumes from its last complete checkpoint and ends where the uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyCNN, assert_same_state, params_of
from kill_worker import trainer_for

WORKER = Path(__file__).with_name("kill_worker.py")


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(killed)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while not (killed / "checkpoint-6" / "trainer_state.json").exists():
            assert proc.poll() is None, "the worker ended before it could be killed"
            assert time.time() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    (killed / "checkpoint-999").mkdir()  # a checkpoint the kill cut short: no trainer_state.json

    resumed = trainer_for(str(killed))
    resumed.model.load_state_dict(TinyCNN(seed=7).state_dict())  # weights must come from the checkpoint
    resumed.train(resume_from_checkpoint=True)
    straight = trainer_for(str(tmp_path / "straight"))
    straight.train()

    assert resumed.state.global_step == straight.state.global_step == 12
    assert_same_state(params_of(straight.model), params_of(resumed.model), atol=1e-6)
    for name in ("scores", "last_step", "times_seen", "labels"):
        np.testing.assert_allclose(getattr(straight.scores, name), getattr(resumed.scores, name), atol=1e-6)


def test_resume_true_without_a_complete_checkpoint_is_refused(tmp_path):
    (tmp_path / "checkpoint-3").mkdir()
    with pytest.raises(ValueError, match="complete checkpoint"):
        trainer_for(str(tmp_path)).train(resume_from_checkpoint=True)
