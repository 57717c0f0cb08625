"""Scale of the curriculum bookkeeping: `ScoreTable` + `CurriculumSampler` at N = 10,000,000 samples.

Per epoch, at batch size B, the trainer's curriculum work outside the model is:

* `set_epoch`         — the sampler builds the epoch's plan (sampler mode), once per epoch;
* iterate the plan    — the DataLoader's `BatchSampler` pulls N Python ints from the sampler;
* table updates       — N/B `ScoreTable.update` calls with one gathered batch each (index, score, label tensors);
* `threshold(q)`      — SPL mode: `ADMTrainer._spl_weights` calls it once per micro-batch, N/B times per epoch.

The table is filled as mid-training (every sample scored, random staleness), so `set_epoch` takes its general path.
Memory is `nbytes` of the persistent arrays per sample plus the transient peak of `set_epoch` (tracemalloc, which
sees numpy's buffers). The bytes a multi-process run sends per step for the score gather are counted from the
tensors `ADMTrainer._gather` moves.

    python benchmarks/scale.py --out benchmarks/results/scale.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from adm_hf.curriculum import CurriculumSampler, ScoreTable

NUM_CLASSES = 10


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall-clock seconds of `repeats` calls of `fn`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def filled_table(n: int, seed: int = 0) -> ScoreTable:
    """A table as it looks mid-training: every sample scored once, at random steps, with a label."""
    rng = np.random.default_rng(seed)
    table = ScoreTable(n)
    table.scores[:] = rng.standard_normal(n, dtype=np.float32)
    table.last_step[:] = rng.integers(0, 100_000, n, dtype=np.int32)
    table.times_seen[:] = 1
    table.labels[:] = rng.integers(0, NUM_CLASSES, n, dtype=np.int32)
    return table


def batches_of_updates(n: int, batch_size: int, count: int, seed: int = 1) -> list[tuple[torch.Tensor, ...]]:
    """`count` gathered batches as the trainer passes them: int64 indices, float32 scores, int64 labels."""
    g = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randint(0, n, (batch_size,), generator=g),
            torch.randn(batch_size, generator=g),
            torch.randint(0, NUM_CLASSES, (batch_size,), generator=g),
        )
        for _ in range(count)
    ]


def time_updates(table: ScoreTable, n: int, batch_size: int, count: int) -> float:
    """Seconds per `ScoreTable.update` of one batch, over `count` batches."""
    batches = batches_of_updates(n, batch_size, count)
    start = time.perf_counter()
    for step, (index, scores, labels) in enumerate(batches):
        table.update(index, scores, step=step, labels=labels)
    return (time.perf_counter() - start) / count


def time_iteration(sampler: CurriculumSampler, batch_size: int) -> float:
    """Seconds to pull the whole plan through a `BatchSampler`, exactly as the DataLoader's main process does."""
    batches = torch.utils.data.BatchSampler(sampler, batch_size, drop_last=False)
    start = time.perf_counter()
    for _ in batches:
        pass
    return time.perf_counter() - start


def set_epoch_peak_bytes(sampler: CurriculumSampler, epoch: int) -> tuple[int, int]:
    """(transient peak, persistent growth) of numpy allocations during one `set_epoch`, via tracemalloc."""
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    sampler.set_epoch(epoch)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base, current - base


def gather_bytes_per_sample(difficulty: str) -> dict[str, int]:
    """Bytes per sample of the global batch that `ADMTrainer._gather` moves per step (one copy per rank).

    Each gather sends a validity mask (int64, from `torch.ones(..., dtype=torch.long)`) with the tensors:
    the score update sends index (int64, from `IndexedCollator`), score (float32) and label (int64, the collated
    `labels`); ADM additionally gathers the batch's loss gaps (float32) for the running-mean normalisation.
    """
    one = {
        "valid_mask": torch.ones(1, dtype=torch.long),
        "index": torch.ones(1, dtype=torch.long),
        "score": torch.ones(1, dtype=torch.float32),
        "label": torch.ones(1, dtype=torch.long),
    }
    sizes = {name: t.element_size() for name, t in one.items()}
    if difficulty == "adm":
        sizes["gap_valid_mask"] = torch.ones(1, dtype=torch.long).element_size()
        sizes["gap"] = torch.ones(1, dtype=torch.float32).element_size()
    sizes["total"] = sum(sizes.values())
    return sizes


def subsample_threshold_cost(table: ScoreTable, q: float, size: int, repeats: int) -> dict[str, float]:
    """The proposed cheaper threshold: the q-quantile of a fixed random subsample (time per call, rank error)."""
    rng = np.random.default_rng(2)
    subset = rng.choice(len(table), size=min(size, len(table)), replace=False)
    times = timed(lambda: np.quantile(table.scores[subset], q), repeats)
    estimate = float(np.quantile(table.scores[subset], q))
    rank = float(np.count_nonzero(table.scores <= estimate)) / len(table)
    return {"subsample": int(subset.size), "seconds_per_call": statistics.median(times), "rank_of_estimate": rank}


def run(args: argparse.Namespace) -> dict:
    n, b = args.num_samples, args.batch_size
    steps_per_epoch = -(-n // b)
    table = filled_table(n)
    sampler = CurriculumSampler(table, lambda: args.q, seed=0, explore_fraction=0.1)

    build = [timed(lambda: sampler.set_epoch(epoch), 1)[0] for epoch in range(1, args.repeats + 1)]
    iterate = [time_iteration(sampler, b) for _ in range(args.repeats)]
    update_batches = min(args.update_batches or steps_per_epoch, steps_per_epoch)
    update_s = time_updates(table, n, b, update_batches)
    threshold = timed(lambda: table.threshold(args.q), args.threshold_calls)
    peak, persistent = set_epoch_peak_bytes(sampler, epoch=10_000)

    threshold_s = statistics.median(threshold)
    per_epoch = {
        "set_epoch_s": statistics.median(build),
        "iterate_plan_s": statistics.median(iterate),
        "table_updates_s": update_s * steps_per_epoch,
        "threshold_every_step_s": threshold_s * steps_per_epoch,
    }
    per_epoch["sampler_mode_total_s"] = per_epoch["set_epoch_s"] + per_epoch["iterate_plan_s"] + per_epoch[
        "table_updates_s"
    ]
    per_epoch["spl_mode_total_s"] = per_epoch["table_updates_s"] + per_epoch["threshold_every_step_s"]

    table_bytes = sum(a.nbytes for a in table.state_dict().values())
    sampler_bytes = sum(a.nbytes for a in (sampler.plan, sampler.admitted, sampler.explored) if a is not None)
    return {
        "settings": vars(args),
        "steps_per_epoch": steps_per_epoch,
        "timings": {
            "set_epoch_s": build,
            "iterate_plan_s": iterate,
            "update_s_per_call": update_s,
            "update_calls_timed": update_batches,
            "update_extrapolated": update_batches < steps_per_epoch,
            "threshold_s_per_call": threshold,
        },
        "per_epoch": per_epoch,
        "memory": {
            "table_bytes_per_sample": table_bytes / n,
            "table_fields_bytes_per_sample": {k: v.itemsize for k, v in table.state_dict().items()},
            "sampler_bytes_per_sample": sampler_bytes / n,
            "set_epoch_transient_peak_bytes_per_sample": peak / n,
            "set_epoch_persistent_growth_bytes_per_sample": persistent / n,
        },
        "gather_bytes_per_sample": {d: gather_bytes_per_sample(d) for d in ("adm", "loss")},
        "proposed_subsample_threshold": subsample_threshold_cost(table, args.q, 1 << 16, args.threshold_calls),
    }


def markdown(result: dict) -> str:
    e, m, s = result["per_epoch"], result["memory"], result["settings"]
    t = result["timings"]
    extrapolated = f" (timed {t['update_calls_timed']}, extrapolated)" if t["update_extrapolated"] else ""
    lines = [
        f"N = {s['num_samples']:,}, batch {s['batch_size']} ({result['steps_per_epoch']:,} steps/epoch), q = {s['q']}",
        "",
        "| work per epoch | seconds |",
        "|---|---:|",
        f"| `set_epoch` (plan build) | {e['set_epoch_s']:.3f} |",
        f"| iterate the plan (BatchSampler) | {e['iterate_plan_s']:.3f} |",
        f"| table updates{extrapolated} | {e['table_updates_s']:.3f} |",
        f"| `threshold(q)` every step ({statistics.median(t['threshold_s_per_call']) * 1e3:.1f} ms/call) "
        f"| {e['threshold_every_step_s']:.1f} |",
        f"| **sampler mode** (set_epoch + iterate + updates) | {e['sampler_mode_total_s']:.3f} |",
        f"| **SPL mode** (updates + threshold every step) | {e['spl_mode_total_s']:.1f} |",
        "",
        "| memory | bytes/sample |",
        "|---|---:|",
        f"| score table ({', '.join(f'{k} {v}' for k, v in m['table_fields_bytes_per_sample'].items())}) "
        f"| {m['table_bytes_per_sample']:.2f} |",
        f"| sampler (plan + admitted + explored) | {m['sampler_bytes_per_sample']:.2f} |",
        f"| `set_epoch` transient peak | {m['set_epoch_transient_peak_bytes_per_sample']:.2f} |",
        "",
        "| gather per step | bytes per sample of the global batch |",
        "|---|---:|",
    ]
    lines += [f"| difficulty={d} | {g['total']} |" for d, g in result["gather_bytes_per_sample"].items()]
    p = result["proposed_subsample_threshold"]
    lines += [
        "",
        f"Proposed threshold on a fixed {p['subsample']:,}-sample subsample: "
        f"{p['seconds_per_call'] * 1e6:.0f} µs/call, estimate at rank {p['rank_of_estimate']:.4f} (target {s['q']}).",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-samples", type=int, default=10_000_000)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--q", type=float, default=0.5, help="Admitted fraction (sampler) and SPL quantile.")
    p.add_argument("--repeats", type=int, default=3, help="Repeats of set_epoch and of the plan iteration.")
    p.add_argument("--threshold-calls", type=int, default=5)
    p.add_argument(
        "--update-batches", type=int, default=None, help="Time this many updates and extrapolate (default: all)."
    )
    p.add_argument("--quick", action="store_true", help="N = 20,000 (smoke test).")
    p.add_argument("--out", default="benchmarks/results/scale.json")
    args = p.parse_args(argv)
    if args.quick:
        args.num_samples, args.repeats, args.threshold_calls = 20_000, 1, 2
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
