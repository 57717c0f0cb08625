"""Speed ratios of one optimizer step: ERM (plain `Trainer`) = 1.0 against SAM, ADM+SAM and every curriculum mode.

Every method trains the same ResNet-18-shaped net on the same data through `trainer.train(max_steps=...)`, so the real
Trainer path is timed (a callback stamps `time.perf_counter()` at each `on_step_end`). The first `--warmup` steps of
each run are discarded; the next `--steps` give one time per step for that repeat. Repeats are interleaved (every
method once per repeat, the order rotating), so machine noise hits all methods alike; the table reports the median
over repeats, the interquartile range, and the ratio of medians to ERM.

The peer is a hand-written SAM loop (plain PyTorch, `torch.optim.SGD`, two forward/backward passes,
`e(w) = rho g / ||g||`, weights restored from a copy), timed the same way over the same DataLoader.

Peak memory comes from a fresh subprocess per method that builds the same trainer and trains `--warmup + --steps`
steps: `peak_rss_mb` is its peak resident set size (VmHWM, reset after imports and data loading) and
`train_growth_mb` that peak minus the resident size before the trainer is built, i.e. what model, optimizer and
training add on top of the process.

    python benchmarks/speed.py --out benchmarks/results/speed.json               # random data
    python benchmarks/speed.py --data ../shared/datasets/cifar10/train.parquet    # a slice of real CIFAR-10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
import transformers
from torch import nn
from transformers import ResNetConfig, ResNetForImageClassification, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback

from adm_hf import ADMConfig, ADMTrainer

NUM_CLASSES = 10
LEARNING_RATE = 0.05
SAM_RHO = 0.05


# ---------------------------------------------------------------------------------------------------- model and data


def build_model(quick: bool, seed: int = 0) -> ResNetForImageClassification:
    """ResNet-18's layout (BasicBlocks, depths 2-2-2-2, widths 64-512, 11M parameters) with BatchNorm.

    HF's embedder downsamples 4x, so at 32x32 the stages run at 8, 4, 2, 1 pixels: a step takes a few tenths of a
    second on two cores, enough that per-step Python overhead is measured against realistic compute.
    """
    torch.manual_seed(seed)
    hidden, embed, depths = ([8, 16, 16, 32], 8, [1, 1, 1, 1]) if quick else ([64, 128, 256, 512], 64, [2, 2, 2, 2])
    config = ResNetConfig(
        num_channels=3,
        embedding_size=embed,
        hidden_sizes=hidden,
        depths=depths,
        layer_type="basic",
        num_labels=NUM_CLASSES,
    )
    return ResNetForImageClassification(config)


class TensorDataset(torch.utils.data.Dataset):
    """`{"pixel_values", "labels"}` dicts from two in-memory tensors (decoded once, so timing excludes JPEG work)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def load_data(path: str | None, num_samples: int, image_size: int) -> TensorDataset:
    """Random normal images and labels, or the first `num_samples` CIFAR-10 images normalised per channel."""
    if path is None:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(num_samples, 3, image_size, image_size, generator=g)
        return TensorDataset(x, torch.randint(0, NUM_CLASSES, (num_samples,), generator=g))
    import datasets

    table = datasets.load_dataset("parquet", data_files=path, split="train").select(range(num_samples))
    images = np.stack([np.asarray(img.convert("RGB").resize((image_size, image_size))) for img in table["img"]])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True)
    return TensorDataset(x, torch.tensor(table["label"]))


# ------------------------------------------------------------------------------------------------------ the methods


class NaiveADMTrainer(ADMTrainer):
    """ADM+SAM that ignores the free logits and input gradient of SAM's ascent pass: `adm_scores` then runs its own
    clean forward + input backward (FGSM) before the adversarial forward, the naive cost the design warns about."""

    def _score_batch(self, model, inputs, index, logits, input_grad):
        return super()._score_batch(model, inputs, index, logits=None, input_grad=None)


@dataclass
class Method:
    """One timed configuration: the trainer class and the `ADMConfig` fields that differ from plain ERM."""

    label: str
    trainer_cls: type[Trainer] | None  # None: the hand-written SAM loop
    overrides: dict = field(default_factory=dict)


def _adm(curriculum: str, difficulty: str = "adm", sam: bool = True) -> dict:
    return dict(sam=sam, curriculum=curriculum, difficulty=difficulty)


METHODS: dict[str, Method] = {
    "erm": Method("ERM (transformers.Trainer)", Trainer),
    "sam": Method("SAM (ADMTrainer)", ADMTrainer, _adm("none")),
    "adm_sam": Method("ADM+SAM online FGSM (default: SPL)", ADMTrainer, _adm("spl")),
    "adm_sam_naive": Method("ADM+SAM naive separate FGSM", NaiveADMTrainer, _adm("spl")),
    "peer_sam": Method("hand-written SAM loop (PyTorch)", None),
    "spl_loss_sam": Method("SPL, difficulty=loss, SAM", ADMTrainer, _adm("spl", "loss")),
    "spl_grad_norm_sam": Method("SPL, difficulty=grad_norm, SAM", ADMTrainer, _adm("spl", "grad_norm")),
    "sampler_adm_sam": Method("sampler, difficulty=adm, SAM", ADMTrainer, _adm("sampler")),
    "sampler_loss_sam": Method("sampler, difficulty=loss, SAM", ADMTrainer, _adm("sampler", "loss")),
    "sampler_grad_norm_sam": Method("sampler, difficulty=grad_norm, SAM", ADMTrainer, _adm("sampler", "grad_norm")),
    "adm_spl_no_sam": Method("ADM-SPL without SAM", ADMTrainer, _adm("spl", sam=False)),
}


class StepClock(TrainerCallback):
    """`time.perf_counter()` at the end of every optimizer step: the Trainer's own loop, nothing else, is timed."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.stamps.append(time.perf_counter())


def _common_args(output_dir: str, batch_size: int, max_steps: int) -> dict:
    """Identical optimizer and loop settings for every method; SGD with momentum, as the peer loop uses."""
    return dict(
        output_dir=output_dir,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        logging_strategy="no",
        per_device_train_batch_size=batch_size,
        max_steps=max_steps,
        learning_rate=LEARNING_RATE,
        lr_scheduler_type="constant",
        optim="sgd",
        optim_args="momentum=0.9",
        max_grad_norm=0.0,  # the peer loop does not clip either
        dataloader_pin_memory=False,
        seed=0,
    )


def build_trainer(name: str, dataset, output_dir: str, batch_size: int, max_steps: int, quick: bool) -> Trainer:
    method = METHODS[name]
    common = _common_args(output_dir, batch_size, max_steps)
    if method.trainer_cls is Trainer:
        args = TrainingArguments(**common)
    else:
        args = ADMConfig(**common, sam_rho=SAM_RHO, **method.overrides)
    return method.trainer_cls(model=build_model(quick), args=args, train_dataset=dataset)


def seconds_per_step(stamps: list[float], warmup: int) -> float:
    """Mean step time after the warm-up: (last stamp - stamp ending the warm-up) / timed steps."""
    return (stamps[-1] - stamps[warmup - 1]) / (len(stamps) - warmup)


def time_trainer(name: str, dataset, batch_size: int, warmup: int, steps: int, quick: bool) -> float:
    with tempfile.TemporaryDirectory() as out:
        trainer = build_trainer(name, dataset, out, batch_size, warmup + steps, quick)
        clock = StepClock()
        trainer.add_callback(clock)
        trainer.remove_callback(PrinterCallback)  # keep stdout for the table
        trainer.train()
    return seconds_per_step(clock.stamps, warmup)


# ------------------------------------------------------------------------------------------------------ the peer loop


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def peer_sam_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict, rho: float) -> None:
    """One SAM step written by hand: ascent pass, w += rho g/||g||, descent pass at w + e, restore w, SGD step.

    The second pass runs with BatchNorm momentum 0 (running statistics unchanged), as davda54/sam does.
    """
    model(**batch).loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    with torch.no_grad():
        norm = torch.stack([p.grad.norm(2) for p in params]).norm(2)
        backup = [p.detach().clone() for p in params]
        for p in params:
            p.add_(p.grad, alpha=float(rho / (norm + 1e-12)))
    optimizer.zero_grad()
    bns = _batchnorms(model)
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    model(**batch).loss.backward()
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    with torch.no_grad():
        for p, saved in zip(params, backup):
            p.copy_(saved)
    optimizer.step()
    optimizer.zero_grad()


def time_peer(dataset, batch_size: int, warmup: int, steps: int, quick: bool) -> float:
    model = build_model(quick).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=0.9)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    stamps: list[float] = []
    while len(stamps) < warmup + steps:
        for batch in loader:
            peer_sam_step(model, optimizer, batch, SAM_RHO)
            stamps.append(time.perf_counter())
            if len(stamps) == warmup + steps:
                break
    return seconds_per_step(stamps, warmup)


def time_method(name: str, dataset, batch_size: int, warmup: int, steps: int, quick: bool) -> float:
    if METHODS[name].trainer_cls is None:
        return time_peer(dataset, batch_size, warmup, steps, quick)
    return time_trainer(name, dataset, batch_size, warmup, steps, quick)


# ------------------------------------------------------------------------------------------------------------ memory


def _status_mb(field: str) -> float:
    """A `kB` field of /proc/self/status (VmRSS: resident now; VmHWM: peak resident since the last reset)."""
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def memory_probe(args: argparse.Namespace) -> dict[str, float]:
    """Run in a fresh process: peak resident memory while one method builds its model and trains.

    Writing 5 to /proc/self/clear_refs resets the peak (VmHWM) to the current RSS, so import-time transients
    do not mask the training peak.
    """
    dataset = load_data(args.data, args.batch_size * args.batches, args.image_size)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_mb("VmRSS")
    if METHODS[args.memory_probe].trainer_cls is None:
        time_peer(dataset, args.batch_size, args.warmup, args.steps, args.quick)
    else:
        time_trainer(args.memory_probe, dataset, args.batch_size, args.warmup, args.steps, args.quick)
    peak = _status_mb("VmHWM")
    return {"peak_rss_mb": peak, "train_growth_mb": peak - before}


def measure_memory(name: str, argv: list[str]) -> dict[str, float]:
    """Spawn `memory_probe` for one method, so no method inherits another's peak."""
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--memory-probe", name]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------------------- report


def summarise(times: dict[str, list[float]]) -> dict[str, dict]:
    """Median, interquartile range and min-max of the per-repeat step times; ratios of medians to ERM and SAM."""
    out = {}
    erm, sam = statistics.median(times["erm"]), statistics.median(times["sam"])
    for name, values in times.items():
        q1, q3 = np.percentile(values, [25, 75])
        median = statistics.median(values)
        out[name] = {
            "label": METHODS[name].label,
            "seconds_per_step": values,
            "median_s": median,
            "iqr_s": [float(q1), float(q3)],
            "min_s": min(values),
            "max_s": max(values),
            "ratio_to_erm": median / erm,
            "ratio_to_sam": median / sam,
        }
    return out


def check_targets(summary: dict[str, dict]) -> dict[str, dict]:
    """The issue's targets, each with the measured ratio and whether it is met."""
    targets = {
        "sam_vs_erm": (summary["sam"]["ratio_to_erm"], 2.05),
        "adm_sam_vs_erm": (summary["adm_sam"]["ratio_to_erm"], 2.4),
        "adm_sam_vs_sam": (summary["adm_sam"]["ratio_to_sam"], 1.2),
        "sam_vs_peer": (summary["sam"]["median_s"] / summary["peer_sam"]["median_s"], 1.05),
    }
    return {k: {"ratio": r, "target": t, "met": r <= t} for k, (r, t) in targets.items()}


def markdown(summary: dict[str, dict], targets: dict[str, dict]) -> str:
    lines = [
        "| method | median s/step | IQR (s) | min-max (s) | × ERM | × SAM | peak RSS (MB) | train growth (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in summary.items():
        mem = r.get("memory", {})
        peak = f"{mem['peak_rss_mb']:.0f}" if mem else "–"
        growth = f"{mem['train_growth_mb']:.0f}" if mem else "–"
        lines.append(
            f"| {r['label']} (`{name}`) | {r['median_s']:.3f} | {r['iqr_s'][0]:.3f}–{r['iqr_s'][1]:.3f} "
            f"| {r['min_s']:.3f}–{r['max_s']:.3f} | {r['ratio_to_erm']:.2f} | {r['ratio_to_sam']:.2f} "
            f"| {peak} | {growth} |"
        )
    lines += ["", "| target | measured | limit | met |", "|---|---:|---:|---|"]
    for key, t in targets.items():
        lines.append(f"| {key} | {t['ratio']:.3f} | ≤ {t['target']} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines)


def machine() -> dict:
    model_name = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )
    return {
        "cpu": model_name,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# --------------------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="Interleaved repeats per method.")
    p.add_argument("--steps", type=int, default=10, help="Timed optimizer steps per repeat.")
    p.add_argument("--warmup", type=int, default=3, help="Untimed steps at the start of each run.")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--batches", type=int, default=4, help="Dataset size in batches (epochs wrap around).")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice).")
    p.add_argument("--data", default=None, help="CIFAR-10 parquet (column img, label); default random tensors.")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--no-memory", action="store_true", help="Skip the per-method peak-memory subprocesses.")
    p.add_argument("--quick", action="store_true", help="Tiny model and settings (smoke test, seconds).")
    p.add_argument("--out", default="benchmarks/results/speed.json")
    p.add_argument("--memory-probe", default=None, choices=list(METHODS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.steps, args.warmup = min(args.repeats, 2), min(args.steps, 2), 1
        args.batch_size, args.batches, args.image_size = min(args.batch_size, 8), 2, 16
    if args.warmup < 1 or args.steps < 1 or args.repeats < 1:
        p.error("--warmup, --steps and --repeats must be >= 1 (the warm-up's last stamp starts the clock)")
    for required in ("erm", "sam"):
        if required not in args.methods:
            args.methods.insert(0, required)
    return args


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    transformers.logging.set_verbosity_error()
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or threads)
    try:
        if args.memory_probe:
            print(json.dumps(memory_probe(args)))
            return {}
        return run(args, argv)
    finally:
        torch.set_num_threads(threads)  # main() is also called from tests: leave the process as it was


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    """Time every method (interleaved repeats), probe its memory, write the JSON and print the table."""
    dataset = load_data(args.data, args.batch_size * args.batches, args.image_size)
    time_method("erm", dataset, args.batch_size, args.warmup, 1, args.quick)  # the process's one-off lazy inits
    times: dict[str, list[float]] = {name: [] for name in args.methods}
    for repeat in range(args.repeats):
        order = args.methods[repeat % len(args.methods):] + args.methods[: repeat % len(args.methods)]
        for name in order:
            times[name].append(time_method(name, dataset, args.batch_size, args.warmup, args.steps, args.quick))
            print(f"repeat {repeat + 1}/{args.repeats} {name}: {times[name][-1]:.3f} s/step", file=sys.stderr)

    summary = summarise(times)
    targets = check_targets(summary) if "peer_sam" in summary and "adm_sam" in summary else {}
    if not args.no_memory:
        probe_argv = [a for a in argv if a != "--no-memory"]
        for name in args.methods:
            summary[name]["memory"] = measure_memory(name, probe_argv)

    settings = {k: v for k, v in vars(args).items() if k not in ("memory_probe", "out")}
    result = {"machine": machine(), "settings": settings, "methods": summary, "targets": targets}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(markdown(summary, targets))
    return result


if __name__ == "__main__":
    main()
