"""A PyTorch Lightning pilot sweep recorded into a convexlaw run store, with forecasts.

    python examples/lightning_sweep.py [--db runs.db] [--steps 600] [--peaks 0.03,0.1,0.3]
    convexlaw runs list --db runs.db --tag sweep=lightning-pilots

Each peak learning rate trains an MLP on Fashion-MNIST (else the MNIST digits of the
``convexlaw[train]`` extra) for ``--steps`` updates, warm-up + cosine. The callback stores
every update's learning rate, the training and validation losses and the gradient norm;
from 30 % of the run on it forecasts the final training loss and, once a run of the
sweep has finished, whether this peak is on track to beat it. The runs carry their
schedule spec, so they can serve as pilots for ``convexlaw plan``, which needs pilots at
two or more horizons (run again with ``--steps 2400``).
"""

from __future__ import annotations

import argparse
import logging
import warnings

import lightning.pytorch as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from convexlaw.integrations import Forecast, LightningCallback
from convexlaw.integrations.forecast import final_loss
from convexlaw.runs import RunStore, default_db_path
from convexlaw.schedules import lambda_lr
from convexlaw.train import load_dataset

SPEC = "cosine+warmup(0.05)"
FORECAST = Forecast()  # defaults: from 30 % of the run, every 10 %


class MLP(L.LightningModule):
    def __init__(self, inputs: int, classes: int, width: int, peak: float, steps: int):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(inputs, width),
                                       torch.nn.ReLU(), torch.nn.Linear(width, width),
                                       torch.nn.ReLU(), torch.nn.Linear(width, classes))

    def training_step(self, batch, batch_idx):
        return F.cross_entropy(self.net(batch[0]), batch[1])

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", F.cross_entropy(self.net(batch[0]), batch[1]))

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.hparams.peak, momentum=0.9)
        sched = lambda_lr(opt, SPEC, self.hparams.steps)  # any torch scheduler works too
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=str(default_db_path()), help="run store (SQLite file)")
    ap.add_argument("--steps", type=int, default=600, help="optimizer updates T per run")
    ap.add_argument("--peaks", default="0.03,0.1,0.3", help="peak learning rates, comma-separated")
    ap.add_argument("--width", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", module="lightning")  # its tips about workers, loggers
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    data = load_dataset("image")
    train = TensorDataset(data.train_x, data.train_y)
    val = DataLoader(TensorDataset(data.val_x[:2000], data.val_y[:2000]), batch_size=1000)
    inputs = int(data.train_x[0].numel())
    store = RunStore(args.db)
    for peak in [float(p) for p in args.peaks.split(",")]:
        L.seed_everything(0, verbose=False)
        cb = LightningCallback(store, {"data": data.name}, sweep="lightning-pilots",
                               name=f"lightning-mlp{args.width}-peak{peak:g}-T{args.steps}",
                               schedule=SPEC, forecast=FORECAST)
        trainer = L.Trainer(max_steps=args.steps, val_check_interval=args.steps // 4,
                            callbacks=[cb], logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(MLP(inputs, data.classes, args.width, peak, args.steps),
                    DataLoader(train, batch_size=128, shuffle=True), val)
        run = store.get(cb.run_id)
        fc = run.tags["forecast"]
        actual = final_loss(run, "train", FORECAST.width(args.steps))  # as forecasts rank runs
        track = {True: "on track", False: "behind", None: "first of its sweep"}[fc.get("on_track")]
        if fc.get("sweep_best") is not None:
            track += f" vs the sweep's best {fc['sweep_best']:.4f}"
        (first, pred0), (last, pred1) = fc["history"][0], fc["history"][-1]
        print(f"peak {peak:<6g} {run.status}: final training loss {actual:.4f}; forecast "
              f"{pred0:.4f} at update {first}, {pred1:.4f} at update {last} ({track})")
    print(f"runs stored in {args.db}: convexlaw runs list --db {args.db} "
          "--tag sweep=lightning-pilots")


if __name__ == "__main__":
    main()
