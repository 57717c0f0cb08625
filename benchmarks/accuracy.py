"""Accuracy of every method on a CIFAR-10 subset, clean or with 40 % symmetric label noise.

One command per table:

    python benchmarks/accuracy.py --setting clean --seeds 0 1 2 --jobs 2
    python benchmarks/accuracy.py --setting noisy --seeds 0 1 2 --jobs 2

Each run writes `results/runs/<setting>_<method>_s<seed>.json` as soon as it finishes (existing ones are skipped, so
an interrupted grid resumes); the table `results/accuracy_<setting>.md` is rebuilt from every JSON of that setting.
`--quick` trains a tiny model on a tiny slice for one epoch (the smoke test), into a scratch directory by default.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import METHOD_LABELS, METHODS, Budget, RunSpec, mean_std  # noqa: E402

QUICK_OUT = Path("/tmp/adm_hf_bench_quick")


def specs(setting: str, seeds: list[int], methods: list[str]) -> list[RunSpec]:
    """Seed-major order: every method gets seed 0 before any gets seed 1, so a cut-short grid is still a table."""
    return [RunSpec(method, setting, seed) for seed in seeds for method in methods]


def table(runs: list[dict[str, Any]], setting: str, budget: Budget) -> str:
    """Markdown: mean ± std over seeds (sample std) of validation and held-out accuracy, per method."""
    runs = [r for r in runs if r["setting"] == setting and not r["tag"] and r["budget"] == _budget_dict(budget)]
    noisy = setting == "noisy"
    header = "| method | seeds | val acc | held-out acc | train time (s) |"
    rule = "|---|---|---|---|---|"
    if noisy:
        header += " fit to noisy train labels | AUROC of own difficulty table |"
        rule += "---|---|"
    lines = [header, rule]
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method]
        if not mine:
            continue
        row = (
            f"| {METHOD_LABELS[method]} | {','.join(str(r['seed']) for r in mine)} "
            f"| {mean_std([r['val_accuracy'] for r in mine])} | {mean_std([r['held_out_accuracy'] for r in mine])} "
            f"| {mean_std([r['train_seconds'] for r in mine], digits=0)} |"
        )
        if noisy:
            row += f" {mean_std([r['train_fit_noisy'] for r in mine])} | {mean_std([r.get('auroc_table') for r in mine])} |"
        lines.append(row)
    label = "clean labels" if not noisy else f"{budget.noise_rate:.0%} symmetric label noise (train labels only)"
    held = runs[0]["held_out_source"] if runs else "—"
    return (
        f"### CIFAR-10 subset, {label}\n\nBudget: {common.budget_line(budget)}. Held-out: {held}.\n\n"
        + "\n".join(lines)
        + "\n"
    )


def _budget_dict(budget: Budget) -> dict[str, Any]:
    import json
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(budget)))  # tuples become lists, as in the JSON records


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=("clean", "noisy"), default="clean")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--train-file", default=str(common.DEFAULT_TRAIN_FILE))
    parser.add_argument("--eval-file", default=None, help="held-out parquet (img/label); default: a train slice")
    parser.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results (quick: /tmp)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one torch thread each")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny model, tiny slice, 1 epoch: a smoke test")
    parser.add_argument("--force", action="store_true", help="rerun runs whose JSON exists")
    return parser.parse_args(argv)


def budget_from(args: argparse.Namespace) -> Budget:
    base = common.QUICK_BUDGET if args.quick else Budget()
    return common.with_budget(base, epochs=args.epochs, n_train=args.n_train)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    budget = budget_from(args)
    out_dir = args.out_dir or (QUICK_OUT if args.quick else common.RESULTS)
    common.run_many(
        specs(args.setting, args.seeds, args.methods),
        budget,
        out_dir,
        args.train_file,
        args.eval_file,
        jobs=args.jobs,
        force=args.force,
    )
    text = table(common.load_runs(out_dir), args.setting, budget)
    (out_dir / f"accuracy_{args.setting}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
