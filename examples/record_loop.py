"""A hand-written PyTorch training loop, recorded into a convexlaw run store as it trains.

    python examples/record_loop.py [--db runs.db] [--steps 1000] [--peak 0.1]
    convexlaw runs list --db runs.db

An MLP on Fashion-MNIST (the Debian package dataset-fashion-mnist; without it the MNIST
digits that the ``convexlaw[train]`` extra brings), SGD with momentum, warm-up + cosine
through torch's own LambdaLR. The convexlaw part is the ``with convexlaw.record(...)``
block and one ``rec.log(...)`` per update: the learning rate is read from the optimizer
before ``scheduler.step()``, so it is the one the update applied.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

import convexlaw
from convexlaw.runs import default_db_path
from convexlaw.schedules import lr_lambda
from convexlaw.train import load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=str(default_db_path()), help="run store (SQLite file)")
    ap.add_argument("--steps", type=int, default=1000, help="optimizer updates T")
    ap.add_argument("--peak", type=float, default=0.1, help="peak learning rate")
    ap.add_argument("--width", type=int, default=256)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)

    data = load_dataset("image")
    x, y = data.train_x.flatten(1), data.train_y
    val_x, val_y = data.val_x.flatten(1)[:2000], data.val_y[:2000]
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], args.width), torch.nn.ReLU(),
                              torch.nn.Linear(args.width, args.width), torch.nn.ReLU(),
                              torch.nn.Linear(args.width, data.classes))
    spec, T = "cosine+warmup(0.05)", args.steps
    opt = torch.optim.SGD(net.parameters(), lr=args.peak, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(spec, T))
    config = {"model": "mlp", "width": args.width, "data": data.name, "batch_size": 128}

    with convexlaw.record(args.db, config, name=f"mlp{args.width}-peak{args.peak:g}-T{T}",
                          model=net, steps=T, schedule=spec, peak_lr=args.peak,
                          optimizer="sgd", batch_size=128, seed=0, forecast=True) as rec:
        gen = torch.Generator().manual_seed(0)
        for t in range(1, T + 1):
            idx = torch.randint(0, len(x), (128,), generator=gen)
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            rec.log(t, opt, loss)               # the LR this update applies, its loss
            opt.step()
            sched.step()
            if t % (T // 10) == 0:
                with torch.no_grad():
                    rec.log_value("val", t, F.cross_entropy(net(val_x), val_y))

    run = convexlaw.runs.RunStore(args.db).get(rec.id)
    fc = run.tags["forecast"]
    print(f"stored {run.name} (id {run.id}) in {args.db}: {run.status}, T = {run.T}, "
          f"N = {run.N:.0f}, schedule {run.schedule}")
    print(f"final training loss (mean of the last 50 updates) "
          f"{run.curve('train')[1][-50:].mean():.4f}, held-out {run.final_loss('val'):.4f}")
    for step, pred in fc["history"]:
        print(f"  forecast at update {step:5d}: final training loss {pred:.4f}")


if __name__ == "__main__":
    main()
