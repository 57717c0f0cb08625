"""The curriculum: pacing functions, self-paced weights, a per-sample score table and an epoch sampler.

* ``admitted_fraction`` — the pace ``q(t)``: which fraction of the data (easiest first) is admitted at progress ``t``.
* ``spl_weights`` / ``spl_loss`` — self-paced learning inside a batch: ``L = Σ v_i ℓ_i / Σ v_i``.
* ``ScoreTable`` — the last difficulty of every training sample (numpy, O(batch) updates, 10M samples practical).
* ``CurriculumSampler`` — a dataset-level curriculum: each epoch replays the easiest ``q·N`` samples plus a stale
  exploration set, with the same epoch length ``N`` (and so the same compute) as plain shuffling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import torch
from torch import Tensor

PACINGS = ("linear", "root", "geometric", "step")
SPL_WEIGHTINGS = ("hard", "linear", "log", "mixture")

# The log scheme's published form ties its shape to the loss unit (ζ = 1 − λ needs 0 < λ < 1). We evaluate it in
# units where the threshold is this age, i.e. ζ = 1/e and log ζ = −1: v = 1 − log(1 + (e − 1)·ℓ/λ).
LOG_SCHEME_AGE = 1.0 - math.exp(-1.0)

_PLAN_CHUNK = 1 << 16


# ---------------------------------------------------------------------------------------------------------- pacing


def admitted_fraction(
    progress: float, *, pacing: str, start_fraction: float, end: float, root_p: float = 2.0, num_steps: int = 4
) -> float:
    """Pace ``q(t)`` ∈ [s, 1]: the fraction of the (difficulty-sorted) data admitted at ``t = global_step/max_steps``.

    With ``τ = min(1, t/end)`` and ``s = start_fraction``:

    * linear     ``q = s + (1 − s)·τ``
    * root       ``q = (s^p + (1 − s^p)·τ)^(1/p)`` (Platanios et al. 2019 competence; p = 1 is linear, p = 2 their
      "root" pace — curriculum zoos that hard-code ``** 0.5`` silently ignore p)
    * geometric  ``q = s^(1 − τ) = s·(1/s)^τ`` (the fraction grows by a constant factor per unit of progress)
    * step       ``q = s + (1 − s)·⌊τ·num_steps⌋/num_steps`` (``num_steps`` equal plateaus, 1 at t = end)

    Every pace equals ``s`` at ``t = 0`` and 1 for ``t ≥ end``.
    """
    if pacing not in PACINGS:
        raise ValueError(f"pacing must be one of {PACINGS}, got {pacing!r}")
    if not (math.isfinite(progress) and progress >= 0):
        raise ValueError(f"progress must be a finite number >= 0, got {progress}")
    if not 0 < start_fraction <= 1:
        raise ValueError(f"start_fraction must be in (0, 1], got {start_fraction}")
    if not 0 < end <= 1:
        raise ValueError(f"end must be in (0, 1] (the fraction of training at which q reaches 1), got {end}")
    if not (math.isfinite(root_p) and root_p > 0):
        raise ValueError(f"root_p must be a finite number > 0, got {root_p}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")

    s, tau = start_fraction, min(1.0, progress / end)
    if pacing == "linear":
        q = s + (1 - s) * tau
    elif pacing == "root":
        q = (s**root_p + (1 - s**root_p) * tau) ** (1 / root_p)
    elif pacing == "geometric":
        q = s ** (1 - tau)
    else:
        q = s + (1 - s) * math.floor(tau * num_steps + 1e-9) / num_steps  # 0.6/0.8·4 is 2.9999999999999996
    return min(1.0, max(s, q))


def admitted_count(q: float, n: int) -> int:
    """``m = max(1, ⌈q·n⌉)``, robust to float noise (0.3·10 is 3.0000000000000004 in binary floating point)."""
    return min(n, max(1, math.ceil(q * n - 1e-9 * max(1, n))))


# ------------------------------------------------------------------------------------------------ self-paced weights


def spl_weights(
    difficulty: Tensor,
    threshold: float,
    scheme: str,
    *,
    mixture_ratio: float = 0.5,
    log_age: float = LOG_SCHEME_AGE,
) -> Tensor:
    """Self-paced weights ``v_i ∈ [0, 1]``: the closed-form minimisers of ``Σ v_i ℓ_i + f(v; λ)`` over ``v``.

    The schemes (Kumar et al. 2010 for hard; Jiang et al. 2014, "Easy Samples First: Self-paced Reranking for
    Zero-Example Multimedia Search", for the soft ones), with ``ℓ`` the difficulty and ``λ`` the threshold (age):

    * hard     ``v = 1[ℓ ≤ λ]``                                    (f = −λ Σ v_i; ties at λ admitted)
    * linear   ``v = max(0, 1 − ℓ/λ)``                             (f = λ Σ (v_i²/2 − v_i))
    * log      ``v = log(ℓ + ζ)/log ζ`` for ℓ < λ else 0, ζ = 1 − λ  (f = Σ ζ v_i − ζ^{v_i}/log ζ, 0 < λ < 1)
    * mixture  ``v = 1`` if ℓ ≤ λ', ``ζ/ℓ − ζ/λ`` if λ' < ℓ < λ, 0 if ℓ ≥ λ; ζ = λλ'/(λ − λ'), λ' = mixture_ratio·λ
                                                                   (f = −ζ Σ log(v_i + ζ/λ))

    Difficulties here are of any sign and scale (an adversarial gap can be < 0), so they are mapped first:

    1. shift ``ℓ_i = d_i − o`` with origin ``o = min(0, min_i d_i)``: non-negative difficulties are used as they
       are, negative ones make the batch's easiest sample ℓ = 0 (the order is kept; the hard scheme is unchanged);
    2. the age is ``λ = threshold − o``; hard, linear and mixture depend on ``ℓ/λ`` only, so they are scale-free
       as published. The log scheme is not (ζ = 1 − λ fixes a unit), so it is evaluated on ``ℓ·a/λ`` with age
       ``a = log_age`` ∈ (0, 1) (default 1 − 1/e: ``v = 1 − log(1 + (e − 1)·ℓ/λ)``); a → 0 tends to linear,
       a → 1 to admitting only ℓ = 0.

    ``threshold = inf`` gives every sample weight 1. NaN difficulties count as infinitely hard. If no weight is
    positive (e.g. the threshold is the batch minimum and the scheme is soft), every sample tied for the smallest
    difficulty gets weight 1, so the step always has something to learn from and ties are treated symmetrically.
    """
    if scheme not in SPL_WEIGHTINGS:
        raise ValueError(f"scheme must be one of {SPL_WEIGHTINGS}, got {scheme!r}")
    if math.isnan(threshold):
        raise ValueError("threshold is NaN (no scores seen yet?); pass math.inf to give every sample weight 1")
    if not 0 < mixture_ratio < 1:
        raise ValueError(f"mixture_ratio (λ'/λ) must be in (0, 1), got {mixture_ratio}")
    if not 0 < log_age < 1:
        raise ValueError(f"log_age must be in (0, 1), got {log_age}")
    if difficulty.ndim != 1 or difficulty.numel() == 0:
        raise ValueError(f"difficulty must be a non-empty 1-D tensor, got shape {tuple(difficulty.shape)}")

    d = torch.nan_to_num(difficulty.detach().float(), nan=math.inf)
    origin = min(0.0, float(d.min()))
    loss, lam = d - origin, threshold - origin
    if lam <= 0:
        v = torch.zeros_like(loss)
    elif math.isinf(lam):
        v = torch.where(torch.isinf(loss), 0.0, 1.0).to(loss)
    else:
        v = _spl_closed_form(loss, lam, scheme, mixture_ratio, log_age)
    if not bool((v > 0).any()):
        v = (d == d.min()).to(loss)
    return v.float()


def _spl_closed_form(loss: Tensor, lam: float, scheme: str, mixture_ratio: float, log_age: float) -> Tensor:
    """The published minimisers for non-negative losses ``loss`` and age ``lam > 0`` (see ``spl_weights``)."""
    below = loss < lam
    if scheme == "hard":
        return (loss <= lam).to(loss)
    if scheme == "linear":
        return torch.where(below, 1 - loss / lam, 0.0)
    if scheme == "log":
        zeta = 1 - log_age
        scaled = loss * (log_age / lam)
        return torch.where(below, torch.log(scaled.clamp(max=log_age) + zeta) / math.log(zeta), 0.0)
    lam2 = mixture_ratio * lam
    zeta = lam * lam2 / (lam - lam2)
    middle = zeta / loss.clamp(min=lam2) - zeta / lam
    return torch.where(loss <= lam2, 1.0, torch.where(below, middle, 0.0))


def spl_loss(per_sample_loss: Tensor, weights: Tensor) -> Tensor:
    """``L = Σ v_i ℓ_i / Σ v_i`` with the weights detached (they are a selection, not something to train).

    The denominator is floored at the smallest positive float, so an all-zero weight vector gives 0, not NaN.
    """
    w = weights.detach().to(per_sample_loss.dtype)
    return (w * per_sample_loss).sum() / w.sum().clamp(min=torch.finfo(w.dtype).tiny)


# ----------------------------------------------------------------------------------------------------- score table


_TABLE_FIELDS = {"scores": np.float32, "last_step": np.int32, "times_seen": np.int32, "labels": np.int32}


def _to_numpy(values, dtype) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach()
        if values.is_floating_point():
            values = values.float()
        values = values.cpu().numpy()
    return np.asarray(values).reshape(-1).astype(dtype, copy=False)


class ScoreTable:
    """The latest difficulty of every training sample, keyed by dataset index.

    Plain numpy arrays of length N (16 bytes per sample), so 10M samples fit in 160 MB and an update touches only
    the batch. ``scores`` is NaN until a sample is first scored; ``last_step`` is the global step of its last score
    (−1 = never); ``labels`` is −1 when unknown.

    With ``ema = 0`` a new score replaces the old one; otherwise ``score ← ema·old + (1 − ema)·new`` (the first
    observation replaces), which smooths the noise of scores taken at different points of training.
    """

    def __init__(self, num_samples: int, ema: float = 0.0) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {ema}")
        self.ema = ema
        self.scores = np.full(num_samples, np.nan, dtype=np.float32)
        self.last_step = np.full(num_samples, -1, dtype=np.int32)
        self.times_seen = np.zeros(num_samples, dtype=np.int32)
        self.labels = np.full(num_samples, -1, dtype=np.int32)
        self._probe: np.ndarray | None = None  # sample indices summarising a big table in `threshold`

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def num_samples(self) -> int:
        return len(self.scores)

    @property
    def num_seen(self) -> int:
        return int(np.count_nonzero(self.times_seen))

    def update(self, indices, scores, step: int, labels=None) -> None:
        """Record the scores of one (gathered) batch; numpy arrays or torch tensors on any device.

        If an index occurs several times in one update, its last occurrence wins (once: ``times_seen`` grows by
        one). Non-finite scores are skipped — the sample keeps its previous score — so one overflowing step
        cannot poison the table. An index outside ``[0, N)`` raises ``IndexError``.
        """
        idx = _to_numpy(indices, np.int64)
        val = _to_numpy(scores, np.float32)
        if idx.shape != val.shape:
            raise ValueError(f"got {idx.size} indices but {val.size} scores")
        lab = None if labels is None else _to_numpy(labels, np.int32)
        if lab is not None and lab.shape != idx.shape:
            raise ValueError(f"got {idx.size} indices but {lab.size} labels")
        if idx.size == 0:
            return
        bad = (idx < 0) | (idx >= self.num_samples)
        if bad.any():
            raise IndexError(f"sample index {int(idx[bad][0])} is out of range for a table of {self.num_samples}")

        # Keep the last occurrence of every index (numpy fancy assignment leaves duplicates unspecified).
        _, rev_first = np.unique(idx[::-1], return_index=True)
        keep = idx.size - 1 - rev_first
        keep = keep[np.isfinite(val[keep])]
        idx, val = idx[keep], val[keep]

        old = self.scores[idx]
        fresh = np.isnan(old) | (self.ema == 0.0)
        self.scores[idx] = np.where(fresh, val, self.ema * old + (1.0 - self.ema) * val)
        self.last_step[idx] = step
        self.times_seen[idx] += 1
        if lab is not None:
            self.labels[idx] = lab[keep]

    def threshold(self, q: float, max_exact: int | None = None) -> float:
        """The q-quantile of the scored samples (numpy's default "linear" method); NaN if none is scored.

        Two ``np.partition`` calls instead of a sort: O(N), about 0.1 s for 10M samples — too slow to run every
        step on a big table. With ``max_exact``, a table larger than that is summarised by a fixed, seeded random
        probe of ``max_exact`` samples once at least 1,024 of them are scored: O(max_exact) per call, and the
        quantile's rank error is about ``sqrt(q(1−q)/max_exact)`` (0.2 % at 65,536).
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q}")
        scores = self.scores
        if max_exact is not None and self.num_samples > max_exact:
            if self._probe is None or self._probe.size != max_exact:
                self._probe = np.sort(np.random.default_rng(0).choice(self.num_samples, max_exact, replace=False))
            probe = scores[self._probe]
            if np.count_nonzero(~np.isnan(probe)) >= 1024:
                scores = probe
        seen = scores[~np.isnan(scores)]
        if seen.size == 0:
            return math.nan
        pos = q * (seen.size - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        part = np.partition(seen, [lo, hi]) if hi != lo else np.partition(seen, lo)
        low, high = float(part[lo]), float(part[hi])
        return low + (high - low) * (pos - lo)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The four live arrays (no copy): serialise them, don't mutate them."""
        return {name: getattr(self, name) for name in _TABLE_FIELDS}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore from ``state_dict()`` output (copies, so read-only safetensors buffers are fine)."""
        arrays = {}
        for name, dtype in _TABLE_FIELDS.items():
            if name not in state:
                raise KeyError(f"score table state is missing {name!r}")
            arr = np.array(state[name], dtype=dtype).reshape(-1)
            if arr.size != self.num_samples:
                raise ValueError(
                    f"score table state {name!r} has {arr.size} entries but the table has {self.num_samples} "
                    "samples (was the checkpoint made with a different training set?)"
                )
            arrays[name] = arr
        for name, arr in arrays.items():
            setattr(self, name, arr)


# --------------------------------------------------------------------------------------------------------- sampler


def _smallest(key: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest keys, ties going to the lower position; O(n) with ``np.partition``."""
    if k >= key.size:
        return np.arange(key.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    kth = np.partition(key, k - 1)[k - 1]
    less = np.flatnonzero(key < kth)
    ties = np.flatnonzero(key == kth)[: k - less.size]
    return np.concatenate([less, ties])


class CurriculumSampler(torch.utils.data.Sampler[int]):
    """Dataset-level curriculum: every epoch draws ``N`` indices from the easiest samples plus the stalest ones.

    At ``set_epoch(e)``, with ``q = admitted_fraction_fn()`` and ``m = max(1, ⌈q·N⌉)``:

    * admitted    — the ``m`` lowest table scores; unscored samples rank after every scored one;
    * exploration — ``⌈explore_fraction·(N − m)⌉`` of the others with the smallest ``last_step`` (unscored first),
      so every sample is rescored at least every ~1/explore_fraction epochs and none is starved forever;
    * plan        — independent random permutations of ``pool = admitted ∪ exploration``, concatenated and cut
      to ``N``: each pool sample appears once per pass, and the epoch keeps its length ``N`` (the Trainer fixes
      steps per epoch from ``len(dataloader)``, and the compute budget stays that of the baselines).

    Ties (equal scores, equal staleness) are broken by a random permutation. All randomness comes from a numpy
    generator seeded with ``(seed, epoch)``, never the global RNG, so every process builds the same global order;
    Accelerate then shards it by whole batches (never wrap this sampler in ``DistributedSampler``). The plan is
    built once per epoch: calling ``set_epoch`` again with the same epoch keeps it (Accelerate and the Trainer both
    call it). Before any score exists, every sample ties, so the epoch is a uniform random subset (repeated);
    a pace that starts at 1 gives a plain full first epoch that scores everything.
    """

    def __init__(
        self,
        table: ScoreTable,
        admitted_fraction_fn: Callable[[], float],
        *,
        seed: int,
        explore_fraction: float = 0.1,
    ) -> None:
        if not 0.0 <= explore_fraction <= 1.0:
            raise ValueError(f"explore_fraction must be in [0, 1], got {explore_fraction}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.table = table
        self.admitted_fraction_fn = admitted_fraction_fn
        self.seed = int(seed)
        self.explore_fraction = explore_fraction
        self.epoch: int | None = None
        self.plan: np.ndarray | None = None
        self.admitted: np.ndarray | None = None
        self.explored: np.ndarray | None = None

    def __len__(self) -> int:
        return self.table.num_samples

    def set_epoch(self, epoch: int) -> None:
        if self.plan is not None and epoch == self.epoch:
            return
        self.epoch = int(epoch)
        self.admitted, self.explored, self.plan = self._build(self.epoch)

    def _build(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.table.num_samples
        q = float(self.admitted_fraction_fn())
        if not 0.0 < q <= 1.0:
            raise ValueError(f"admitted_fraction_fn() must return a value in (0, 1], got {q}")
        m = admitted_count(q, n)
        index_dtype = np.int32 if n < 2**31 else np.int64
        rng = np.random.default_rng([self.seed, epoch])

        perm = rng.permutation(n).astype(index_dtype, copy=False)  # tie-breaker: position in perm
        scores = self.table.scores[perm]
        scores[np.isnan(scores)] = np.inf  # unscored rank after every scored sample
        admitted_pos = _smallest(scores, m)

        rest = np.ones(n, dtype=bool)
        rest[admitted_pos] = False
        rest_pos = np.flatnonzero(rest)
        staleness = self.table.last_step[perm[rest_pos]]  # -1 (unscored) is the stalest
        explored_pos = rest_pos[_smallest(staleness, math.ceil(self.explore_fraction * (n - m)))]

        admitted, explored = perm[admitted_pos], perm[explored_pos]
        pool = np.concatenate([admitted, explored])
        passes = -(-n // pool.size)
        plan = rng.permuted(np.tile(pool, (passes, 1)), axis=1).reshape(-1)[:n]
        return admitted, explored, np.ascontiguousarray(plan)

    def __iter__(self) -> Iterator[int]:
        if self.plan is None:
            self.set_epoch(0)
        plan = self.plan
        for start in range(0, plan.size, _PLAN_CHUNK):
            yield from plan[start : start + _PLAN_CHUNK].tolist()

    def state_dict(self) -> dict:
        """``{"epoch", "plan"}``: a resumed run replays this epoch's plan (``skip_first_batches`` re-iterates it)."""
        if self.plan is None:
            self.set_epoch(0)
        return {"epoch": self.epoch, "plan": self.plan}

    def load_state_dict(self, state: Mapping) -> None:
        n = self.table.num_samples
        plan = np.array(state["plan"], dtype=np.int32 if n < 2**31 else np.int64).reshape(-1)
        if plan.size != n:
            raise ValueError(f"sampler plan has {plan.size} entries but the dataset has {n} samples")
        if plan.size and (plan.min() < 0 or plan.max() >= n):
            raise ValueError(f"sampler plan holds indices outside [0, {n})")
        self.epoch = int(state["epoch"])
        self.plan = plan
        self.admitted = self.explored = None
