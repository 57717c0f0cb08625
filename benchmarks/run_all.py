"""The schedule used for `docs/benchmarks.md`: every run of both scripts in one queue, most important first.

    python benchmarks/run_all.py --jobs 2

Order: seed 0 of the noisy and clean grids, the ablation (noisy, seed 0), the informativeness run, then seeds 1
and 2. Runs whose JSON exists are skipped, so a stopped schedule resumes; whatever finished is in the tables,
which are rebuilt at the end (or any time with `--tables-only`). The single-table commands in each script's
docstring produce the same runs.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import accuracy  # noqa: E402
import claims  # noqa: E402
import common  # noqa: E402


def queue(quick: bool) -> list[common.RunSpec | str]:
    """RunSpecs in priority order; the string "informativeness" stands for the probe run."""
    methods = list(common.METHODS)
    ablation = claims.QUICK_ABLATION if quick else claims.ABLATION
    seed0 = accuracy.specs("noisy", [0], methods) + accuracy.specs("clean", [0], methods)
    later = [s for seed in (1, 2) for setting in ("noisy", "clean") for s in accuracy.specs(setting, [seed], methods)]
    return [*seed0, *claims.ablation_specs(ablation)[1:], "informativeness", *later]


def write_tables(out_dir: Path, budget: common.Budget, quick: bool) -> None:
    runs = common.load_runs(out_dir)
    for setting in ("clean", "noisy"):
        (out_dir / f"accuracy_{setting}.md").write_text(accuracy.table(runs, setting, budget))
    ablation = claims.QUICK_ABLATION if quick else claims.ABLATION
    (out_dir / "ablation.md").write_text(claims.ablation_table(runs, ablation))
    (out_dir / "auroc.md").write_text(claims.auroc_table(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--train-file", default=str(common.DEFAULT_TRAIN_FILE))
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tables-only", action="store_true")
    args = parser.parse_args()
    out_dir = args.out_dir or (claims.QUICK_OUT if args.quick else common.RESULTS)
    budget = common.QUICK_BUDGET if args.quick else common.Budget()
    info_budget = claims.INFO_QUICK if args.quick else claims.INFO_BUDGET
    if not args.tables_only:
        todo = [t for t in queue(args.quick) if not _done(t, out_dir)]
        print(f"{len(todo)} runs to do", flush=True)
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(claims.informativeness, info_budget, out_dir, args.train_file)
                if t == "informativeness"
                else pool.submit(common.run, t, budget, out_dir, args.train_file)
                for t in todo
            ]
            for future in as_completed(futures):
                record = future.result()
                common._report(record["run"] if "run" in record else record)
                write_tables(out_dir, budget, args.quick)
    write_tables(out_dir, budget, args.quick)


def _done(task: common.RunSpec | str, out_dir: Path) -> bool:
    if task == "informativeness":
        return (out_dir / "claims" / "informativeness.json").exists()
    return (out_dir / "runs" / f"{task.name}.json").exists()


if __name__ == "__main__":
    main()
