"""TensorBoard event files (or folders of them) as a :class:`~convexlaw.runs.readers.Table`.

The ``tensorboard`` package (the ``io`` extra) is imported only when a file is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convexlaw.runs.readers import Table
from convexlaw.runs.tables import LR_NAMES, TRAIN_NAMES, VAL_NAMES

__all__ = ["read_tensorboard"]


def read_tensorboard(path: Path, loss_tag: str | None = None, lr_tag: str | None = None,
                     val_tag: str | None = None) -> Table:
    """Scalars of a TensorBoard event file (or a folder of them) as a table.

    Tags are chosen by common names (``loss``, ``train/loss``, ``lr``, ``val/loss``...) or
    given explicitly. Repeated steps (a resumed run) are averaged.
    """
    try:
        from tensorboard.backend.event_processing import event_accumulator as ea
    except ImportError:
        raise ValueError(f"{path}: reading TensorBoard files needs the tensorboard package "
                         "(pip install 'convexlaw[io]')") from None
    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    try:
        acc.Reload()
    except Exception as err:
        raise ValueError(f"{path}: not a readable TensorBoard event file ({err})") from None
    series: dict[str, list[tuple[int, float]]] = {}
    for tag in acc.Tags().get("scalars", []):
        series[tag] = [(e.step, float(e.value)) for e in acc.Scalars(tag)]
    for tag in acc.Tags().get("tensors", []):
        if tag in series:
            continue
        pts = []
        for e in acc.Tensors(tag):
            from tensorboard.util import tensor_util
            a = np.asarray(tensor_util.make_ndarray(e.tensor_proto))
            if a.size != 1 or not np.issubdtype(a.dtype, np.number):
                break
            pts.append((e.step, float(a.ravel()[0])))
        else:
            if pts:
                series[tag] = pts
    if not series:
        raise ValueError(f"{path}: no scalar summaries found; expected an events.out.tfevents "
                         "file with loss and learning-rate scalars")
    lower = {t.lower(): t for t in series}

    def pick(given: str | None, names: tuple[str, ...], what: str, required: bool) -> str | None:
        if given is not None:
            if given not in series:
                raise ValueError(f"{path}: no scalar tag {given!r} for the {what}; tags: "
                                 f"{', '.join(sorted(series))}")
            return given
        tag = next((lower[n] for n in names if n in lower), None)
        if tag is None and required:
            raise ValueError(f"{path}: no {what} tag among {', '.join(sorted(series))}; "
                             f"expected one of {', '.join(names)} (or give it explicitly)")
        return tag

    tags: dict[str, str | None] = {}
    for col, given, names, what in (("loss", loss_tag, TRAIN_NAMES, "training loss"),
                                    ("val_loss", val_tag, VAL_NAMES, "validation loss"),
                                    ("lr", lr_tag, LR_NAMES, "learning rate")):
        tag = pick(given, names, what, False)
        # a tag given for one column is not picked again by name for another
        if given is None and tag in (loss_tag, val_tag, lr_tag):
            tag = None
        tags[col] = tag
    if tags["loss"] is None and tags["val_loss"] is None:
        raise ValueError(f"{path}: no loss tag among {', '.join(sorted(series))}; expected one "
                         f"of {', '.join(TRAIN_NAMES + VAL_NAMES)} (or give loss_tag)")
    chosen = {col: _mean_by_step(series[t]) for col, t in tags.items() if t is not None}
    steps = sorted(set().union(*(d.keys() for d in chosen.values())))
    cols: dict[str, list] = {"step": steps}
    for col, d in chosen.items():
        cols[col] = [d.get(s, "") for s in steps]
    notes = ["tensorboard tags: " + ", ".join(f"{c}={t}" for c, t in tags.items() if t)]
    t = Table.from_cells(path, "tensorboard", cols, steps, unit="step")
    t.notes += notes
    return t


def _mean_by_step(points: list[tuple[int, float]]) -> dict[int, float]:
    acc: dict[int, list[float]] = {}
    for s, v in points:
        acc.setdefault(int(s), []).append(v)
    return {s: float(np.mean(v)) for s, v in acc.items()}
