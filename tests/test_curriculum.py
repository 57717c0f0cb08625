"""Pacing, self-paced weights, score table and curriculum sampler, each against its closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from accelerate.data_loader import BatchSamplerShard
from torch.utils.data import BatchSampler

from adm_hf.curriculum import (
    LOG_SCHEME_AGE,
    PACINGS,
    SPL_WEIGHTINGS,
    CurriculumSampler,
    ScoreTable,
    admitted_count,
    admitted_fraction,
    spl_loss,
    spl_weights,
)

GRID = [0.0, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.79, 0.8, 0.9, 1.0, 1.3]

# ------------------------------------------------------------------------------------------------------- pacing


def pace(t, pacing, s, end=0.8, **kw):
    return admitted_fraction(t, pacing=pacing, start_fraction=s, end=end, **kw)


@pytest.mark.parametrize("s", [0.1, 0.3, 1.0])
def test_linear_pacing_closed_form(s):
    for t in GRID:
        tau = min(1.0, t / 0.8)
        assert pace(t, "linear", s) == pytest.approx(s + (1 - s) * tau, abs=1e-12)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("s", [0.1, 0.3, 1.0])
def test_root_pacing_uses_p(p, s):
    for t in GRID:
        tau = min(1.0, t / 0.8)
        expected = (s**p + (1 - s**p) * tau) ** (1 / p)
        assert pace(t, "root", s, root_p=p) == pytest.approx(expected, abs=1e-12)


def test_root_p1_is_linear_and_p_matters():
    for t in GRID:
        assert pace(t, "root", 0.2, root_p=1.0) == pytest.approx(pace(t, "linear", 0.2), abs=1e-12)
    # The curriculum-zoo bug (always ** 0.5) would make these equal.
    assert pace(0.4, "root", 0.2, root_p=2.0) != pytest.approx(pace(0.4, "root", 0.2, root_p=3.0))
    assert pace(0.4, "root", 0.2, root_p=3.0) == pytest.approx((0.2**3 + (1 - 0.2**3) * 0.5) ** (1 / 3))


@pytest.mark.parametrize("s", [0.05, 0.3, 1.0])
def test_geometric_pacing(s):
    for t in GRID:
        tau = min(1.0, t / 0.8)
        assert pace(t, "geometric", s) == pytest.approx(s * (1 / s) ** tau, abs=1e-12)
    assert pace(0.0, "geometric", s) == pytest.approx(s)
    assert pace(0.8, "geometric", s) == 1.0
    # Constant growth factor per unit of progress.
    assert pace(0.4, "geometric", s) / pace(0.2, "geometric", s) == pytest.approx(
        pace(0.6, "geometric", s) / pace(0.4, "geometric", s)
    )


def test_step_pacing_plateaus():
    s, k = 0.2, 4
    for t, level in [(0.0, 0), (0.19, 0), (0.2, 1), (0.39, 1), (0.4, 2), (0.6, 3), (0.79, 3), (0.8, 4), (1.0, 4)]:
        assert pace(t, "step", s, num_steps=k) == pytest.approx(s + (1 - s) * level / k, abs=1e-12), t
    assert pace(0.5, "step", 0.2, num_steps=1) == pytest.approx(0.2)


@pytest.mark.parametrize("pacing", PACINGS)
def test_every_pacing_endpoints_and_monotone(pacing):
    for s in (0.1, 0.5, 1.0):
        values = [pace(t, pacing, s) for t in np.linspace(0, 1.2, 61)]
        assert values[0] == pytest.approx(s)
        assert all(s - 1e-12 <= v <= 1.0 for v in values)
        assert all(b >= a - 1e-12 for a, b in zip(values, values[1:]))
        assert pace(0.8, pacing, s) == 1.0 and pace(1.0, pacing, s) == 1.0
    assert pace(0.3, pacing, 0.2, end=0.3) == 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pacing="cosine"), "pacing"),
        (dict(progress=-0.1), "progress"),
        (dict(progress=math.nan), "progress"),
        (dict(start_fraction=0.0), "start_fraction"),
        (dict(start_fraction=1.5), "start_fraction"),
        (dict(end=0.0), "end"),
        (dict(end=1.2), "end"),
        (dict(root_p=0.0), "root_p"),
        (dict(num_steps=0), "num_steps"),
        (dict(num_steps=2.5), "num_steps"),
    ],
)
def test_pacing_validation(kwargs, match):
    args = dict(progress=0.5, pacing="linear", start_fraction=0.2, end=0.8) | kwargs
    progress = args.pop("progress")
    with pytest.raises(ValueError, match=match):
        admitted_fraction(progress, **args)


def test_admitted_count():
    assert admitted_count(0.3, 10) == 3  # 0.3 * 10 == 3.0000000000000004
    assert admitted_count(0.31, 10) == 4
    assert admitted_count(1e-9, 10) == 1
    assert admitted_count(1.0, 7) == 7


# --------------------------------------------------------------------------------------------- self-paced weights


def reference_weight(loss: float, lam: float, scheme: str, ratio: float = 0.5) -> float:
    """Jiang et al. (2014) minimisers for ℓ ≥ 0, λ > 0, written out independently of the implementation."""
    if scheme == "hard":
        return float(loss <= lam)
    if scheme == "linear":
        return max(0.0, 1 - loss / lam)
    if scheme == "log":
        a = LOG_SCHEME_AGE
        zeta = 1 - a
        ell = loss * a / lam
        return math.log(ell + zeta) / math.log(zeta) if ell < a else 0.0
    lam2 = ratio * lam
    zeta = lam * lam2 / (lam - lam2)
    if loss <= lam2:
        return 1.0
    return zeta / loss - zeta / lam if loss < lam else 0.0


def numeric_minimiser(loss: float, lam: float, scheme: str, ratio: float = 0.5) -> float:
    """argmin over v ∈ [0, 1] of ``v·ℓ + f(v; λ)`` with the published regularisers f, on a fine grid."""
    v = np.linspace(0, 1, 200001)
    if scheme == "linear":
        f = lam * (v**2 / 2 - v)
    elif scheme == "log":  # in units where the age is LOG_SCHEME_AGE
        a = LOG_SCHEME_AGE
        zeta = 1 - a
        loss, lam = loss * a / lam, a
        f = zeta * v - zeta**v / math.log(zeta)
    else:
        lam2 = ratio * lam
        zeta = lam * lam2 / (lam - lam2)
        f = -zeta * np.log(v + zeta / lam)
    return float(v[np.argmin(v * loss + f)])


@pytest.mark.parametrize("scheme", SPL_WEIGHTINGS)
@pytest.mark.parametrize("lam", [0.25, 1.0, 7.5])  # exact in float32: boundaries stay exact
def test_spl_weights_closed_forms(scheme, lam):
    losses = torch.tensor([0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.5, 0.7, 0.99, 1.0, 1.2, 3.0]) * lam
    v = spl_weights(losses, lam, scheme, mixture_ratio=0.4)
    expected = [reference_weight(float(x), lam, scheme, 0.4) for x in losses]
    np.testing.assert_allclose(v.numpy(), expected, atol=1e-6)
    assert v.dtype == torch.float32


@pytest.mark.parametrize("scheme", ["linear", "log", "mixture"])
def test_soft_closed_forms_minimise_the_spl_objective(scheme):
    lam = 2.0
    for loss in [0.0, 0.3, 0.9, 1.1, 1.7, 1.99, 2.5]:
        v = float(spl_weights(torch.tensor([loss]), lam, scheme)[0]) if loss < lam else 0.0
        assert v == pytest.approx(numeric_minimiser(loss, lam, scheme), abs=2e-4), (scheme, loss)


def test_log_scheme_formula_and_age():
    r = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0])
    v = spl_weights(r * 3.0, 3.0, "log")
    np.testing.assert_allclose(v.numpy(), (1 - torch.log1p((math.e - 1) * r)).clamp(min=0).numpy(), atol=1e-6)
    # A small age tends to the linear scheme.
    v_small = spl_weights(r * 3.0, 3.0, "log", log_age=1e-4)
    np.testing.assert_allclose(v_small.numpy(), (1 - r).numpy(), atol=1e-3)


@pytest.mark.parametrize("scheme", SPL_WEIGHTINGS)
def test_spl_weights_scale_free(scheme):
    d = torch.tensor([0.1, 0.4, -0.3, 2.0, 0.9, 0.0])
    v = spl_weights(d, 0.8, scheme)
    for c in (1e-3, 10.0, 1e4):
        np.testing.assert_allclose(spl_weights(d * c, 0.8 * c, scheme).numpy(), v.numpy(), atol=1e-5)


@pytest.mark.parametrize("scheme", SPL_WEIGHTINGS)
def test_spl_negative_difficulties_shift_to_batch_minimum(scheme):
    d = torch.tensor([-0.5, -0.2, 0.1, 0.6])
    v = spl_weights(d, 0.3, scheme)
    # Origin o = -0.5: losses d + 0.5, age 0.8.
    expected = [reference_weight(x + 0.5, 0.8, scheme) for x in d.tolist()]
    np.testing.assert_allclose(v.numpy(), expected, atol=1e-6)
    assert v[0] == 1.0  # the easiest sample is at the origin
    # Non-negative difficulties are used as they are (no shift).
    d_pos = torch.tensor([0.2, 0.5, 0.9])
    np.testing.assert_allclose(
        spl_weights(d_pos, 1.0, scheme).numpy(), [reference_weight(x, 1.0, scheme) for x in d_pos.tolist()], atol=1e-6
    )


def test_spl_hard_is_exact_threshold_for_any_sign():
    d = torch.tensor([-3.0, -1.0, 0.5, 2.0])
    assert spl_weights(d, -1.0, "hard").tolist() == [1.0, 1.0, 0.0, 0.0]
    assert spl_weights(d, -2.0, "hard").tolist() == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("scheme", SPL_WEIGHTINGS)
def test_spl_threshold_edges(scheme):
    d = torch.tensor([0.7, 0.2, 0.9, 0.4, 0.2001])
    q0 = float(np.quantile(d.numpy(), 0.0))
    v0 = spl_weights(d, q0, scheme)
    assert v0.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]  # q = 0: only the easiest
    v1 = spl_weights(d, float(np.quantile(d.numpy(), 1.0)), scheme)
    if scheme == "hard":
        assert (v1 == 1).all()  # q = 1: everything
    else:
        assert (v1[d < d.max()] > 0).all() and v1[2] == 0  # soft: the sample at λ has weight 0 by definition
    assert (spl_weights(d, math.inf, scheme) == 1).all()
    v_low = spl_weights(d, -5.0, scheme)  # below everything: fallback to the easiest
    assert v_low.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("scheme", SPL_WEIGHTINGS)
def test_spl_ties_all_equal_and_single(scheme):
    ties = torch.tensor([0.5, 0.1, 0.5, 0.1, 0.9])
    v = spl_weights(ties, 0.3, scheme)
    assert v[1] == v[3] and v[0] == v[2]
    assert (spl_weights(ties, 0.1, scheme) == torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0])).all()
    equal = torch.full((6,), 0.42)
    assert (spl_weights(equal, 0.42, scheme) == 1).all()
    assert (spl_weights(equal, 0.1, scheme) == 1).all()
    assert spl_weights(torch.tensor([3.0]), 0.5, scheme).tolist() == [1.0]
    assert spl_weights(torch.tensor([-3.0]), -4.0, scheme).tolist() == [1.0]


@pytest.mark.parametrize("scheme", SPL_WEIGHTINGS)
def test_spl_never_all_zero(scheme):
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        d = torch.randn(int(torch.randint(1, 20, (1,), generator=gen)), generator=gen) * 3
        thr = float(torch.randn((), generator=gen) * 4)
        v = spl_weights(d, thr, scheme)
        assert (v >= 0).all() and (v <= 1).all() and v.sum() > 0


def test_spl_nan_difficulty_is_hardest():
    v = spl_weights(torch.tensor([0.1, math.nan, 0.2]), 1.0, "linear")
    assert v[1] == 0 and v[0] > v[2] > 0


def test_spl_weights_validation():
    d = torch.tensor([0.1, 0.2])
    with pytest.raises(ValueError, match="scheme"):
        spl_weights(d, 0.5, "poly")
    with pytest.raises(ValueError, match="NaN"):
        spl_weights(d, math.nan, "hard")
    with pytest.raises(ValueError, match="mixture_ratio"):
        spl_weights(d, 0.5, "mixture", mixture_ratio=1.0)
    with pytest.raises(ValueError, match="log_age"):
        spl_weights(d, 0.5, "log", log_age=1.0)
    with pytest.raises(ValueError, match="1-D"):
        spl_weights(torch.zeros(0), 0.5, "hard")


def test_spl_loss():
    losses = torch.tensor([1.0, 2.0, 4.0], requires_grad=True)
    w = torch.tensor([1.0, 0.5, 0.0], requires_grad=True)
    out = spl_loss(losses, w)
    assert out.item() == pytest.approx((1 + 1) / 1.5)
    out.backward()
    assert w.grad is None  # weights are detached
    np.testing.assert_allclose(losses.grad.numpy(), [1 / 1.5, 0.5 / 1.5, 0.0])
    zero = spl_loss(torch.tensor([1.0, 2.0]), torch.zeros(2))
    assert zero.item() == 0.0 and torch.isfinite(zero)
    half = spl_loss(torch.tensor([1.0, 3.0], dtype=torch.bfloat16), torch.tensor([1.0, 1.0]))
    assert half.item() == 2.0


# ---------------------------------------------------------------------------------------------------- score table


def test_table_update_replace_and_metadata():
    t = ScoreTable(6)
    assert t.num_seen == 0 and math.isnan(t.threshold(0.5))
    t.update(np.array([1, 3]), np.array([0.5, 0.25]), step=7, labels=[2, 4])
    t.update(torch.tensor([3]), torch.tensor([0.75], dtype=torch.bfloat16), step=9)
    assert t.scores[1] == 0.5 and t.scores[3] == 0.75
    assert np.isnan(t.scores[[0, 2, 4, 5]]).all()
    assert t.last_step.tolist() == [-1, 7, -1, 9, -1, -1]
    assert t.times_seen.tolist() == [0, 1, 0, 2, 0, 0]
    assert t.labels.tolist() == [-1, 2, -1, 4, -1, -1]
    assert t.num_seen == 2
    assert t.scores.dtype == np.float32 and t.last_step.dtype == np.int32


def test_table_ema():
    t = ScoreTable(3, ema=0.75)
    t.update([0], [2.0], step=0)
    assert t.scores[0] == 2.0  # the first observation replaces
    t.update([0, 1], [6.0, 1.0], step=1)
    assert t.scores[0] == pytest.approx(0.75 * 2 + 0.25 * 6) and t.scores[1] == 1.0


def test_table_duplicates_last_wins_and_nonfinite_skipped():
    t = ScoreTable(4)
    t.update([2, 0, 2, 2], [1.0, 5.0, 2.0, 3.0], step=1, labels=[7, 1, 8, 9])
    assert t.scores[2] == 3.0 and t.labels[2] == 9 and t.times_seen[2] == 1 and t.scores[0] == 5.0
    t.update([0, 1], [math.nan, math.inf], step=2)
    assert t.scores[0] == 5.0 and t.last_step[0] == 1 and np.isnan(t.scores[1]) and t.last_step[1] == -1


def test_table_out_of_range_and_shape_errors():
    t = ScoreTable(4)
    with pytest.raises(IndexError, match="sample index 4"):
        t.update([1, 4], [0.1, 0.2], step=0)
    with pytest.raises(IndexError, match="sample index -1"):
        t.update([-1], [0.1], step=0)
    assert t.num_seen == 0  # a failed update changes nothing
    with pytest.raises(ValueError, match="indices"):
        t.update([1, 2], [0.1], step=0)


def test_table_threshold_matches_nanquantile():
    rng = np.random.default_rng(0)
    t = ScoreTable(1000)
    idx = rng.choice(1000, 700, replace=False)
    t.update(idx, rng.normal(size=700), step=0)
    for q in [0.0, 0.01, 0.1, 1 / 3, 0.5, 0.9, 0.999, 1.0]:
        assert t.threshold(q) == pytest.approx(float(np.nanquantile(t.scores.astype(np.float64), q)), rel=1e-6)
    one = ScoreTable(5)
    one.update([3], [0.25], step=0)
    assert one.threshold(0.0) == one.threshold(0.7) == 0.25
    with pytest.raises(ValueError, match="q"):
        t.threshold(1.5)


def test_big_table_threshold_uses_a_probe_once_enough_is_scored():
    rng = np.random.default_rng(1)
    t = ScoreTable(200_000)
    idx = rng.choice(200_000, 500, replace=False)
    t.update(idx, rng.normal(size=500), step=0)
    # too few probe samples scored: still exact
    assert t.threshold(0.3, max_exact=4096) == pytest.approx(float(np.nanquantile(t.scores, 0.3)), rel=1e-6)
    t.update(np.arange(200_000), rng.uniform(size=200_000), step=1)
    probed = t.threshold(0.3, max_exact=4096)
    assert probed != t.threshold(0.3)  # from the probe, not the whole table
    assert abs(np.mean(t.scores <= probed) - 0.3) < 0.03  # within a few standard errors of the true rank


def test_table_state_round_trip_and_length_error():
    t = ScoreTable(5, ema=0.5)
    t.update([0, 4], [0.3, 0.6], step=3, labels=[1, 2])
    state = {k: v.copy() for k, v in t.state_dict().items()}
    assert all(isinstance(v, np.ndarray) for v in state.values())
    for v in state.values():
        v.setflags(write=False)  # like a safetensors buffer
    u = ScoreTable(5, ema=0.5)
    u.load_state_dict(state)
    for k in state:
        np.testing.assert_array_equal(getattr(u, k), getattr(t, k))
    u.update([0], [0.1], step=4)  # the loaded arrays are writable copies
    assert t.scores[0] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="5 entries but the table has 6"):
        ScoreTable(6).load_state_dict(state)
    with pytest.raises(KeyError, match="labels"):
        ScoreTable(5).load_state_dict({k: v for k, v in state.items() if k != "labels"})


# -------------------------------------------------------------------------------------------------------- sampler


def scored_table(n: int, seen: float = 1.0, seed: int = 0) -> ScoreTable:
    rng = np.random.default_rng(seed)
    t = ScoreTable(n)
    idx = rng.permutation(n)[: int(seen * n)]
    t.update(idx, rng.integers(0, 20, idx.size).astype(np.float32), step=0)  # many ties
    t.last_step[idx] = rng.integers(0, 50, idx.size)
    return t


def test_sampler_deterministic_and_epoch_dependent():
    t = scored_table(101)
    a = CurriculumSampler(t, lambda: 0.3, seed=5)
    b = CurriculumSampler(t, lambda: 0.3, seed=5)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    c = CurriculumSampler(t, lambda: 0.3, seed=5)
    c.set_epoch(3)
    assert list(c) != list(a)
    d = CurriculumSampler(t, lambda: 0.3, seed=6)
    d.set_epoch(2)
    assert list(d) != list(a)
    state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    a.set_epoch(4)
    assert torch.equal(torch.random.get_rng_state(), state)  # no global RNG use
    assert np.array_equal(np.random.get_state()[1], np_state)


def test_sampler_set_epoch_idempotent():
    t = scored_table(50)
    q = [0.2]
    s = CurriculumSampler(t, lambda: q[0], seed=0)
    s.set_epoch(1)
    first = list(s)
    q[0] = 0.9
    t.update(np.arange(50), np.zeros(50), step=1)
    s.set_epoch(1)  # same epoch: the plan is kept even though the table and pace changed
    assert list(s) == first
    s.set_epoch(2)
    assert list(s) != first


@pytest.mark.parametrize("q, explore", [(0.3, 0.1), (0.05, 0.5), (1.0, 0.1), (0.5, 0.0), (0.01, 1.0)])
def test_sampler_admitted_exploration_and_passes(q, explore):
    n = 200
    t = scored_table(n, seen=0.8)
    s = CurriculumSampler(t, lambda: q, seed=1, explore_fraction=explore)
    s.set_epoch(0)
    m = admitted_count(q, n)
    admitted, explored = set(s.admitted.tolist()), set(s.explored.tolist())
    assert len(admitted) == m and not admitted & explored

    # Admitted = the m easiest (unscored rank last); ties at the boundary may go either way.
    key = np.where(np.isnan(t.scores), np.inf, t.scores)
    kth = np.sort(key)[m - 1]
    adm_keys = key[list(admitted)]
    assert (adm_keys <= kth).all() and set(np.flatnonzero(key < kth)) <= admitted

    # Exploration = the stalest of the rest (unscored, last_step -1, first).
    rest = np.setdiff1d(np.arange(n), list(admitted))
    e = math.ceil(explore * (n - m))
    assert len(explored) == e
    if e:
        kth_stale = np.sort(t.last_step[rest])[e - 1]
        assert (t.last_step[list(explored)] <= kth_stale).all()
        assert set(rest[t.last_step[rest] < kth_stale]) <= explored

    # len == N; each pool sample once per pass.
    plan = list(s)
    assert len(s) == n == len(plan)
    pool = admitted | explored
    p = len(pool)
    for start in range(0, n - p + 1, p):
        assert sorted(plan[start : start + p]) == sorted(pool)
    tail = plan[(n // p) * p :]
    assert len(set(tail)) == len(tail) and set(tail) <= pool


def test_sampler_unscored_table_is_uniform_subset_and_refresh_reaches_everyone():
    n = 100
    t = ScoreTable(n)
    s = CurriculumSampler(t, lambda: 0.2, seed=0, explore_fraction=0.25)
    seen_epochs = []
    for epoch in range(12):
        s.set_epoch(epoch)
        batch = np.unique(np.fromiter(iter(s), dtype=np.int64))
        t.update(batch, np.ones(batch.size), step=epoch)
        seen_epochs.append(t.num_seen)
    assert seen_epochs[0] == 20 + math.ceil(0.25 * 80)
    assert t.num_seen == n  # exploration eventually scores every sample


def test_sampler_ties_broken_by_seed():
    t = ScoreTable(40)
    t.update(np.arange(40), np.zeros(40), step=0)  # all equal
    picks = set()
    for seed in range(5):
        s = CurriculumSampler(t, lambda: 0.25, seed=seed, explore_fraction=0.0)
        s.set_epoch(0)
        picks.add(tuple(sorted(s.admitted.tolist())))
    assert len(picks) > 1


@pytest.mark.parametrize("batch_size", [4, 7])
@pytest.mark.parametrize("even_batches", [False, True])
def test_sampler_sharded_by_accelerate_covers_plan(batch_size, even_batches):
    n = 53
    t = scored_table(n)
    shards = []
    for rank in range(2):  # each rank builds its own sampler: the global order must agree
        s = CurriculumSampler(t, lambda: 0.4, seed=3)
        s.set_epoch(1)
        batches = BatchSampler(s, batch_size, drop_last=False)
        shard = BatchSamplerShard(batches, num_processes=2, process_index=rank, even_batches=even_batches)
        shards.append(list(shard))
    plan = list(s)
    batches = [plan[i : i + batch_size] for i in range(0, n, batch_size)]
    # Whole batches alternate between ranks: rank r gets batches r, r + 2, ...
    assert shards[0] == batches[0::2]
    if not even_batches:
        assert shards[1] == batches[1::2]
        flat = [i for shard in shards for b in shard for i in b]
        assert len(flat) == n and sorted(flat) == sorted(plan)  # the plan, once, no overlap
    else:  # Accelerate completes the last batch(es) by wrapping around to the start of the plan.
        assert shards[1][: len(batches[1::2]) - 1] == batches[1::2][:-1]
        last = shards[1][len(batches[1::2]) - 1]
        assert len(last) == batch_size and last == (batches[-1] + plan)[:batch_size]


def test_sampler_state_round_trip():
    t = scored_table(64)
    s = CurriculumSampler(t, lambda: 0.3, seed=2)
    s.set_epoch(5)
    state = s.state_dict()
    assert state["epoch"] == 5 and state["plan"].dtype == np.int32
    t.update(np.arange(64), -np.arange(64, dtype=np.float32), step=9)  # the table moves on
    r = CurriculumSampler(t, lambda: 0.9, seed=2)
    r.load_state_dict({"epoch": state["epoch"], "plan": state["plan"].copy()})
    r.set_epoch(5)  # the Trainer calls set_epoch again after resuming: the loaded plan is kept
    assert list(r) == list(s)
    with pytest.raises(ValueError, match="64 samples"):
        r.load_state_dict({"epoch": 0, "plan": np.arange(10)})
    with pytest.raises(ValueError, match="outside"):
        r.load_state_dict({"epoch": 0, "plan": np.arange(64) + 1})


def test_sampler_iter_without_set_epoch_and_validation():
    t = scored_table(30)
    s = CurriculumSampler(t, lambda: 0.5, seed=0)
    plan = list(s)
    assert s.epoch == 0 and len(plan) == 30
    e = CurriculumSampler(t, lambda: 0.5, seed=0)
    e.set_epoch(0)
    assert list(e) == plan
    with pytest.raises(ValueError, match="admitted_fraction_fn"):
        CurriculumSampler(t, lambda: 0.0, seed=0).set_epoch(0)
    with pytest.raises(ValueError, match="explore_fraction"):
        CurriculumSampler(t, lambda: 0.5, seed=0, explore_fraction=1.5)
