"""Leave-one-domain-out on DomainNet: train on five domains, evaluate on the held-out sixth, for each domain.

    python examples/domainnet_lodo.py --output_dir out/domainnet                      # all six domains in turn
    python examples/domainnet_lodo.py --target_domain sketch,clipart --output_dir out/domainnet
    accelerate launch --num_processes 2 examples/domainnet_lodo.py --target_domain clipart

`--target_domain` takes one domain or a comma-separated list (default: all six). Every `adm-hf train` flag works
(`--help` lists them); the values below follow DomainBed's ResNet-50 protocol (Adam, lr 5e-5, batch 32, 5,000
steps). Each domain's run goes to `<output_dir>/<domain>` (and, with
`--push_to_hub`, to `<hub_model_id>-<domain>`); a summary of the held-out accuracies is printed at the end.
"""

import os
import sys
from collections.abc import Sequence

from adm_hf.cli import parse_train_args, train
from adm_hf.data.domainnet import DOMAINS

DEFAULTS = {
    "dataset": "domainnet",
    "model": "microsoft/resnet-50",
    "train_augment": "rrc",
    "max_steps": 5000,
    "per_device_train_batch_size": 32,
    "learning_rate": 5e-5,
    "weight_decay": 0.0,
    "warmup_steps": 0.0,
    "eval_strategy": "no",
    "save_strategy": "steps",
    "save_steps": 1000,
    "logging_steps": 50,
    "dataloader_num_workers": 4,
}


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    argv = list(sys.argv[1:] if argv is None else argv)
    data_args, _, args = parse_train_args(argv, DEFAULTS)
    accuracies = {}
    for domain in data_args.target_domain.split(",") if data_args.target_domain else DOMAINS:
        per_domain = ["--target_domain", domain, "--output_dir", os.path.join(args.output_dir, domain)]
        if args.hub_model_id:
            per_domain += ["--hub_model_id", f"{args.hub_model_id}-{domain}"]
        accuracies[domain] = train([*argv, *per_domain], DEFAULTS)["eval_accuracy"]  # the last flag wins
    if args.process_index == 0:
        print("\nheld-out domain accuracy")
        for domain, accuracy in accuracies.items():
            print(f"  {domain:<10} {accuracy:.4f}")
        print(f"  {'mean':<10} {sum(accuracies.values()) / len(accuracies):.4f}")
    return accuracies


if __name__ == "__main__":
    main()
