"""`ADMConfig`: `TrainingArguments` plus every SAM, difficulty and curriculum knob, validated up front."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from .curriculum import PACINGS, SPL_WEIGHTINGS
from .difficulty import ATTACKS, DIFFICULTIES, NORMALIZATIONS

CURRICULA = ("none", "spl", "sampler")


@dataclass
class ADMConfig(TrainingArguments):
    """Training arguments for [`ADMTrainer`]; every `TrainingArguments` field keeps its meaning.

    Groups of fields:

    * **SAM** (`sam`, `sam_rho`, `sam_adaptive`): the sharpness-aware step. The ascent is taken per micro-batch, so
      with gradient accumulation each micro-batch gets its own perturbation (m-sharpness).
    * **Difficulty** (`difficulty`, `adm_*`): how hard each training sample is. `"adm"` is the loss gap between an
      adversarial (FGSM/PGD) input and the clean one; `"loss"` and `"grad_norm"` are the classic baselines.
    * **Curriculum** (`curriculum`, `curriculum_*`, `spl_*`): `"spl"` weights samples in the loss (self-paced
      learning), `"sampler"` draws only the admitted (easiest) samples; the admitted fraction grows with training
      progress `global_step / max_steps`.
    """

    # --- SAM ---
    sam: bool = field(default=True, metadata={"help": "Use the sharpness-aware (SAM) two-pass step."})
    sam_rho: float = field(default=0.05, metadata={"help": "SAM neighbourhood radius rho; must be > 0 with `sam`."})
    sam_adaptive: bool = field(
        default=False, metadata={"help": "ASAM: scale the perturbation per weight, e = rho |w|^2 g / || |w| g ||."}
    )

    # --- Difficulty ---
    difficulty: str = field(
        default="adm",
        metadata={"help": f"Per-sample difficulty measure, one of {DIFFICULTIES}.", "choices": DIFFICULTIES},
    )
    adm_attack: str = field(
        default="fgsm", metadata={"help": f"Adversarial attack for ADM, one of {ATTACKS}.", "choices": ATTACKS}
    )
    adm_epsilon: float = field(
        default=2 / 255,
        metadata={
            "help": "L-inf attack radius in pixel units of [0, 1] images; converted to the model's normalised input "
            "space with the image processor's std (or `adm_input_std`)."
        },
    )
    adm_input_std: list[float] | None = field(
        default=None,
        metadata={
            "help": "Per-channel std the inputs were normalised with, when no image processor is passed to the "
            "trainer. Without either, inputs are assumed to be in [0, 1] pixel units."
        },
    )
    adm_pgd_steps: int = field(default=3, metadata={"help": "PGD iterations (with `adm_attack='pgd'`)."})
    adm_pgd_step_size: float | None = field(
        default=None, metadata={"help": "PGD step size in pixel units; default 2.5 * epsilon / steps."}
    )
    adm_pgd_random_start: bool = field(default=False, metadata={"help": "Start PGD from a random point in the ball."})
    adm_normalization: str = field(
        default="mean",
        metadata={
            "help": f"How the ADM loss gap is normalised, one of {NORMALIZATIONS}: 'mean' divides by a running mean "
            "of gaps, 'clean_loss' by each sample's clean loss, 'none' keeps the raw gap.",
            "choices": NORMALIZATIONS,
        },
    )
    adm_mean_momentum: float = field(
        default=0.9, metadata={"help": "EMA momentum of the running mean gap used by adm_normalization='mean'."}
    )
    difficulty_ema: float = field(
        default=0.0,
        metadata={"help": "EMA factor of the per-sample score table: score = ema * old + (1 - ema) * new (0 = replace)."},
    )

    # --- Curriculum ---
    curriculum: str = field(
        default="sampler",
        metadata={
            "help": f"Curriculum mode, one of {CURRICULA}: 'sampler' draws the easiest admitted samples (the default: "
            "best in our CIFAR-10 benchmark, docs/benchmarks.md), 'spl' self-paced weights in the loss, 'none' "
            "trains on everything.",
            "choices": CURRICULA,
        },
    )
    curriculum_pacing: str = field(
        default="linear",
        metadata={"help": f"Pacing function q(t) of the admitted fraction, one of {PACINGS}.", "choices": PACINGS},
    )
    curriculum_start_fraction: float = field(
        default=0.5, metadata={"help": "Admitted fraction q at the start of training, in (0, 1]."}
    )
    curriculum_end: float = field(
        default=0.8, metadata={"help": "Fraction of total optimizer steps at which q reaches 1, in (0, 1]."}
    )
    curriculum_root_p: float = field(default=2.0, metadata={"help": "p of the 'root' pacing (p-th root)."})
    curriculum_num_steps: int = field(default=4, metadata={"help": "Number of plateaus of the 'step' pacing."})
    curriculum_explore_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Sampler mode: fraction of the non-admitted samples (the stalest first) added to each epoch so "
            "their scores are refreshed."
        },
    )
    spl_weighting: str = field(
        default="hard",
        metadata={"help": f"Self-paced weighting scheme, one of {SPL_WEIGHTINGS}.", "choices": SPL_WEIGHTINGS},
    )
    spl_mixture_ratio: float = field(
        default=0.5, metadata={"help": "Mixture weighting: lambda' = ratio * lambda, in (0, 1)."}
    )

    # --- Reliability and reporting ---
    max_nonfinite_steps: int = field(
        default=10,
        metadata={
            "help": "Abort training after this many micro-batches with a non-finite loss (each is skipped and its "
            "sample indices logged); 0 aborts on the first."
        },
    )
    dataset_name: str | None = field(default=None, metadata={"help": "Dataset name recorded in the model card."})

    def __post_init__(self):
        self._validate_adm_fields()
        super().__post_init__()

    def _validate_adm_fields(self) -> None:
        def require(ok: bool, name: str, why: str) -> None:
            if not ok:
                raise ValueError(f"ADMConfig.{name}={getattr(self, name)!r}: {why}")

        for name, allowed in (
            ("curriculum", CURRICULA),
            ("difficulty", DIFFICULTIES),
            ("adm_attack", ATTACKS),
            ("adm_normalization", NORMALIZATIONS),
            ("curriculum_pacing", PACINGS),
            ("spl_weighting", SPL_WEIGHTINGS),
        ):
            require(getattr(self, name) in allowed, name, f"must be one of {allowed}")
        require(not self.sam or self.sam_rho > 0, "sam_rho", "must be > 0 when sam=True")
        require(self.adm_epsilon >= 0, "adm_epsilon", "must be >= 0 (pixel units of [0, 1] images)")
        require(self.adm_pgd_steps >= 1, "adm_pgd_steps", "must be >= 1")
        require(
            self.adm_pgd_step_size is None or self.adm_pgd_step_size > 0, "adm_pgd_step_size", "must be > 0"
        )
        require(
            self.adm_input_std is None or all(s > 0 for s in self.adm_input_std), "adm_input_std", "must be > 0"
        )
        require(0 <= self.adm_mean_momentum < 1, "adm_mean_momentum", "must be in [0, 1)")
        require(0 <= self.difficulty_ema < 1, "difficulty_ema", "must be in [0, 1)")
        require(0 < self.curriculum_start_fraction <= 1, "curriculum_start_fraction", "must be in (0, 1]")
        require(0 < self.curriculum_end <= 1, "curriculum_end", "must be in (0, 1]")
        require(self.curriculum_root_p > 0, "curriculum_root_p", "must be > 0")
        require(self.curriculum_num_steps >= 1, "curriculum_num_steps", "must be >= 1")
        require(0 <= self.curriculum_explore_fraction <= 1, "curriculum_explore_fraction", "must be in [0, 1]")
        require(0 < self.spl_mixture_ratio < 1, "spl_mixture_ratio", "must be in (0, 1)")
        require(self.max_nonfinite_steps >= 0, "max_nonfinite_steps", "must be >= 0")
        if self.sam and (self.deepspeed or self.fsdp):
            setting = "deepspeed" if self.deepspeed else "fsdp"
            raise ValueError(
                f"ADMConfig: sam=True cannot be combined with `{setting}` yet: the SAM ascent needs each process's "
                "full, unsharded gradient and weights. Use DDP (`accelerate launch`) or set sam=False."
            )
