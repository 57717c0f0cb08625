"""The paper's claims, measured on a CIFAR-10 subset: informativeness, the ADM ablation, noisy-label detection.

One command per result:

    python benchmarks/claims.py informativeness   # one plain SAM run, probe scored every epoch -> plot + JSON
    python benchmarks/claims.py ablation --jobs 2 # ADM-SPL + SAM on noisy labels, one factor at a time
    python benchmarks/claims.py auroc             # tables only: reads the noisy accuracy runs and the ablation runs

`ablation` shares its budget with `accuracy.py`, so its default point is the `noisy_adm_spl_sam_s0` accuracy run
(reused if present). `--quick` shrinks everything for the smoke test.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import math
import sys
from pathlib import Path
from collections.abc import Sequence
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

import common  # noqa: E402
from common import Budget, RunSpec, mean_std  # noqa: E402

QUICK_OUT = Path("/tmp/adm_hf_bench_quick")

# Longer on fewer images than the accuracy grid: the claim is about what happens near a (flat) minimum, so the
# probe run has to get close to fitting its training set.
INFO_BUDGET = Budget(n_train=2000, epochs=30)
INFO_QUICK = replace(common.QUICK_BUDGET, epochs=2)
PROBE_SIZE = 1000
MEASURES = {"loss": "loss", "grad_norm": "grad-norm", "adm_none": "ADM (gap; = mean-normalised)",
            "adm_clean_loss": "ADM / clean loss"}

# One factor at a time from the ADMConfig default (mean normalisation, eps 2/255, FGSM, linear pace, hard SPL).
ABLATION: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "normalisation": [("norm-clean_loss", {"adm_normalization": "clean_loss"}),
                      ("norm-none", {"adm_normalization": "none"})],
    "epsilon": [("eps-1", {"adm_epsilon": 1 / 255}), ("eps-4", {"adm_epsilon": 4 / 255}),
                ("eps-8", {"adm_epsilon": 8 / 255})],
    "attack": [("attack-pgd3", {"adm_attack": "pgd", "adm_pgd_steps": 3})],
    "pacing": [("pace-root", {"curriculum_pacing": "root"}), ("pace-geometric", {"curriculum_pacing": "geometric"}),
               ("pace-step", {"curriculum_pacing": "step"})],
    "spl weighting": [("spl-linear", {"spl_weighting": "linear"}), ("spl-log", {"spl_weighting": "log"}),
                      ("spl-mixture", {"spl_weighting": "mixture"})],
}
DEFAULTS = {"normalisation": "mean", "epsilon": "2/255", "attack": "FGSM", "pacing": "linear", "spl weighting": "hard"}
QUICK_ABLATION = {"normalisation": ABLATION["normalisation"][:1], "pacing": ABLATION["pacing"][:1]}


# ------------------------------------------------------------------------------------------------ informativeness


class ProbeCallback(TrainerCallback):
    """Scores a fixed probe of training images with every measure before training and after each epoch.

    Scores come from `common.score_all` in eval mode on un-augmented images, so the only thing that changes between
    two points is the model.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y
        self.points: list[dict[str, Any]] = []

    def _score(self, model: torch.nn.Module, epoch: float) -> None:
        scores = common.score_all(model, self.x, self.y)
        self.points.append({"epoch": epoch, "probe_accuracy": common.accuracy(model, self.x, self.y), **scores})

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._score(model, 0.0)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self._score(model, round(state.epoch or 0.0, 3))


def spread(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per point and measure: mean, std, coefficient of variation std/|mean|, Spearman with the previous point."""
    from scipy.stats import spearmanr

    rows = []
    for i, point in enumerate(points):
        row: dict[str, Any] = {"epoch": point["epoch"], "probe_accuracy": point["probe_accuracy"]}
        for m in MEASURES:
            v = point[m]
            mean, std = float(np.mean(v)), float(np.std(v))
            row[f"{m}_mean"], row[f"{m}_std"] = mean, std
            row[f"{m}_cv"] = std / abs(mean) if mean else math.nan
            row[f"{m}_spearman_prev"] = float(spearmanr(points[i - 1][m], v)[0]) if i else math.nan
        rows.append(row)
    return rows


def informativeness(budget: Budget, out_dir: Path, train_file: str, suffix: str = "") -> dict[str, Any]:
    """One plain SAM run (clean labels, no curriculum) with the probe callback; writes JSON and the plot.

    `suffix` names a non-default budget's outputs (`informativeness<suffix>.{json,md,png}`).
    """
    splits = common.load_splits(train_file, None, budget, "clean")
    n = min(PROBE_SIZE, budget.n_train)
    probe = splits.train.select(range(n))  # the train subset is already in seeded random order, class-balanced
    x, y = common.stacked(probe)
    callback = ProbeCallback(x, y)
    record = common.run(RunSpec("sam", "clean", 0, tag="probe" + suffix), budget, out_dir / "claims", train_file,
                        callbacks=[callback])
    result = {"run": record, "probe_size": n, "mode": "eval (BN running stats, un-augmented images)",
              "epsilon": "2/255 FGSM", "points": spread(callback.points)}
    common.write_json(out_dir / "claims" / f"informativeness{suffix}.json", result)
    plot_informativeness(result["points"], out_dir / f"informativeness{suffix}.png")
    (out_dir / f"informativeness{suffix}.md").write_text(informativeness_table(result))
    return result


def plot_informativeness(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), dpi=90)
    for m, label in MEASURES.items():
        axes[0].plot(epochs, [r[f"{m}_cv"] for r in rows], marker=".", label=label)
        axes[1].plot(epochs[1:], [r[f"{m}_spearman_prev"] for r in rows[1:]], marker=".", label=label)
    axes[2].plot(epochs, [r["probe_accuracy"] for r in rows], marker=".", color="k")
    axes[0].set(title="spread: CV = std / |mean|", xlabel="epoch", yscale="log")
    axes[1].set(title="rank stability: Spearman(prev, now)", xlabel="epoch", ylim=(-0.1, 1.05))
    axes[2].set(title="probe accuracy (train images)", xlabel="epoch", ylim=(0, 1.02))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def informativeness_table(result: dict[str, Any]) -> str:
    lines = ["| epoch | probe acc | " + " | ".join(f"{l} CV" for l in MEASURES.values()) + " | "
             + " | ".join(f"{l} ρ(prev)" for l in MEASURES.values()) + " |",
             "|---|---|" + "---|" * (2 * len(MEASURES))]
    for r in result["points"]:
        cv = " | ".join(f"{r[f'{m}_cv']:.2f}" for m in MEASURES)
        rho = " | ".join("—" if math.isnan(r[f"{m}_spearman_prev"]) else f"{r[f'{m}_spearman_prev']:.2f}"
                         for m in MEASURES)
        lines.append(f"| {r['epoch']:g} | {r['probe_accuracy']:.3f} | {cv} | {rho} |")
    run = result["run"]
    return (f"### Informativeness (plain SAM, clean labels, probe of {result['probe_size']} training images, "
            f"{result['mode']}, ADM = {result['epsilon']})\n\nBudget: {common.budget_line(common.Budget(**_budget(run)))}. "
            f"Final val acc {run['val_accuracy']:.3f}, held-out {run['held_out_accuracy']:.3f}, "
            f"{run['train_seconds']:.0f} s.\n\n" + "\n".join(lines) + "\n")


def _budget(run: dict[str, Any]) -> dict[str, Any]:
    b = dict(run["budget"])
    b["hidden_sizes"] = tuple(b["hidden_sizes"])
    return b


# ---------------------------------------------------------------------------------------------------------- ablation


def ablation_specs(
    ablation: dict[str, list[tuple[str, dict[str, Any]]]], setting: str = "noisy", seeds: Sequence[int] = (0,)
) -> list[RunSpec]:
    """The default (= the accuracy grid's ADM-SPL + SAM run of that seed) and every variant, seed-major."""
    return [
        spec
        for seed in seeds
        for spec in [RunSpec("adm_spl_sam", setting, seed)]
        + [RunSpec("adm_spl_sam", setting, seed, tuple(o.items()), tag) for v in ablation.values() for tag, o in v]
    ]


def ablation_table(runs: list[dict[str, Any]], ablation: dict, setting: str = "noisy") -> str:
    """Mean ± std over the seeds each variant has; the default row uses the same seeds as the variants."""
    mine = [r for r in runs if r["setting"] == setting and r["method"] == "adm_spl_sam"]
    variant_seeds = sorted({r["seed"] for r in mine if r["tag"]})
    lines = ["| factor | value | seeds | val acc | held-out acc | AUROC of own table | train time (s) |",
             "|---|---|---|---|---|---|---|"]

    def row(factor: str, value: str, tag: str, seeds: Sequence[int] | None = None) -> str:
        rs = [r for r in mine if r["tag"] == tag and (seeds is None or r["seed"] in seeds)]
        if not rs:
            return f"| {factor} | {value} | not run | | | | |"
        return (f"| {factor} | {value} | {','.join(str(r['seed']) for r in rs)} | "
                f"{mean_std([r['val_accuracy'] for r in rs])} | {mean_std([r['held_out_accuracy'] for r in rs])} | "
                f"{mean_std([r.get('auroc_table') for r in rs])} | {mean_std([r['train_seconds'] for r in rs], 0)} |")

    lines.append(row("(default)", "mean, 2/255, FGSM, linear, hard", "", variant_seeds))
    for factor, variants in ablation.items():
        for tag, _ in variants:
            lines.append(row(factor, tag.split("-", 1)[1], tag))
    return (f"### Ablation of ADM-SPL + SAM ({setting} labels; one factor at a time from the default; mean ± std "
            f"over seeds)\n\nBudget: the accuracy grid's (`accuracy_{setting}.md`). Selection by validation "
            "accuracy; held-out shown for completeness.\n\n" + "\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------------------- AUROC

TABLE_SOURCES = [  # measure label -> (method, ablation tag) whose final difficulty_table() holds that measure
    ("loss", "loss_spl_sam", ""),
    ("grad-norm", "gradnorm_spl_sam", ""),
    ("ADM / running mean (default)", "adm_spl_sam", ""),
    ("ADM / clean loss", "adm_spl_sam", "norm-clean_loss"),
    ("ADM raw gap", "adm_spl_sam", "norm-none"),
]
POSTHOC = [("loss", "loss"), ("grad-norm", "grad_norm"), ("ADM / mean", "adm_mean"),
           ("ADM / clean loss", "adm_clean_loss"), ("ADM raw gap", "adm_none")]


def auroc_table(runs: list[dict[str, Any]]) -> str:
    noisy = [r for r in runs if r["setting"] == "noisy"]
    lines = ["| measure | run (table source) | seeds | AUROC | samples scored |", "|---|---|---|---|---|"]
    for label, method, tag in TABLE_SOURCES:
        mine = [r for r in noisy if r["method"] == method and r["tag"] == tag and "auroc_table" in r]
        source = method + (f" [{tag}]" if tag else "")
        if not mine:
            lines.append(f"| {label} | {source} | not run | | |")
            continue
        lines.append(f"| {label} | {source} | {','.join(str(r['seed']) for r in mine)} | "
                     f"{mean_std([r['auroc_table'] for r in mine])} | {mine[0]['table_scored']} of {mine[0]['n_train']} |")
    methods = [m for m in common.METHODS if any(r["method"] == m and not r["tag"] for r in noisy)]
    post = ["| measure (post hoc, eval mode) | " + " | ".join(common.METHOD_LABELS[m] for m in methods) + " |",
            "|---|" + "---|" * len(methods)]
    for label, key in POSTHOC:
        cells = [mean_std([r["auroc_posthoc"][key] for r in noisy if r["method"] == m and not r["tag"]])
                 for m in methods]
        post.append(f"| {label} | " + " | ".join(cells) + " |")
    flips = noisy[0]["n_flipped"] if noisy else "—"
    return ("### Noisy-label detection: AUROC for the flipped labels (positive = flipped, higher score = more "
            f"suspicious; {flips} flipped)\n\n**Training-time tables** (each run's final `difficulty_table()`: "
            "every sample's score from its last visit, train mode, augmented view):\n\n" + "\n".join(lines)
            + "\n\n**Post hoc** (every training image scored once after training by `score_all`, eval mode, "
            "un-augmented, FGSM 2/255, noisy labels; mean ± std over seeds):\n\n" + "\n".join(post) + "\n")


# -------------------------------------------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("informativeness", "ablation", "auroc"))
    parser.add_argument("--train-file", default=str(common.DEFAULT_TRAIN_FILE))
    parser.add_argument("--eval-file", default=None)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--setting", choices=("clean", "noisy"), default="noisy", help="ablation labels")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="ablation seeds")
    parser.add_argument("--n-train", type=int, default=None, help="informativeness: training images")
    parser.add_argument("--epochs", type=int, default=None, help="informativeness: epochs")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--force", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out_dir = args.out_dir or (QUICK_OUT if args.quick else common.RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.what == "informativeness":
        base = INFO_QUICK if args.quick else INFO_BUDGET
        budget = common.with_budget(base, n_train=args.n_train, epochs=args.epochs)
        suffix = "" if budget == base else f"_{budget.n_train}x{budget.epochs}"
        informativeness(budget, out_dir, args.train_file, suffix)
        print((out_dir / f"informativeness{suffix}.md").read_text())
        return
    if args.what == "ablation":
        ablation = QUICK_ABLATION if args.quick else ABLATION
        budget = common.QUICK_BUDGET if args.quick else Budget()
        common.run_many(ablation_specs(ablation, args.setting, args.seeds), budget, out_dir, args.train_file, args.eval_file,
                        jobs=args.jobs, force=args.force)
        text = ablation_table(common.load_runs(out_dir), ablation, args.setting)
        (out_dir / "ablation.md").write_text(text)
    else:
        text = auroc_table(common.load_runs(out_dir))
        (out_dir / "auroc.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
