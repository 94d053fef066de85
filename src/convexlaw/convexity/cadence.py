"""The default cadence: how many checks and Hessian readings a run gets, from its counts.

The diagnostics cost a fixed amount per check and per Hessian reading, while the run costs
T training steps, so a cadence fixed in checks is expensive on a short run and cheap on a
long one. The default spends a budget instead — a share of the run's work — estimated from
counts only (steps, batch sizes, outputs), never from timers: a run's diagnostics do not
depend on the machine's speed or load.

**Unit**: F, one forward-backward pass of the training batch, 3× its forward FLOPs (counted
by ``torch.utils.flop_counter`` on one forward). With ρ = eval batch / training batch,
π = ``PASS_FLOPS``·N/F (the cost of one pass over a float64 vector of the N parameters)
and b the samples of a training batch,

    a check k (k earlier checks)  c_k = ρ·(1 + 4/3) + (2k + 30)·π
        (a forward-backward and four probe forwards of the evaluation batch; two inner
        products with every earlier checkpoint and ~30 passes over the current one)
    a Hessian reading             h   = ρ·(1 + 2.5·``HVPS``) + 12·``HVPS``·π + r·(8π + 2/b)
        (the gradient with its graph, then ``HVPS`` Lanczos steps, each a Hessian-vector
        product of ~2.5 F and ~12 vector passes; the per-sample readings: r = samples ×
        outputs Jacobian rows, each ~8 passes and ~2 backwards of one sample)

The constants were measured on the development CPU (one thread): a product costs 1.4 F
(MLP 784-256-256-10), 2.0–2.8 F (byte-GPT 32, 64) and 3.0 F (CNN-8); a float64 pass 0.05 F
on the MLP (``PASS_FLOPS`` = 40 FLOPs per parameter), less on the others; a Jacobian row
9 passes (MLP) or 2 one-sample backwards (CNN).

**Rule**: the budget is ``BUDGET``·T F (a training step itself costs 1.0–1.4 F with its
optimizer step, data and held-out evaluations, so this is ≈ 11–15 % of a plain run). It is
spent in this order, each step taken only while the total fits: 10 check intervals (fewer,
down to ``MIN_CHECKS``, if even those do not fit), a Hessian reading at the last check, 20
check intervals, a reading at step 0, one at the middle check. Checks come first: they
carry t0; the Hessian is reported beside it. A run of a few hundred steps thus gets 11
checks and no Hessian reading (``hessian_every`` asks for them anyway), one of 1000–2000
steps 11 or 21 checks and a reading at T, one of a few thousand steps or more 21 checks
with readings at 0, T/2 and T.

>>> mlp = dict(params=269_322, flops=68.8e6, batch=128, sample_rows=80)  # MLP-256
>>> c = default_cadence(2000, **mlp)
>>> c.every, c.hessian_steps, c.checks
(100, (2000,), 21)
>>> default_cadence(1000, **mlp).checks, default_cadence(5000, **mlp).hessian_steps
(11, (0, 2500, 5000))
>>> default_cadence(200, params=120_576, flops=235e6, batch=16).hessian_steps  # byte-GPT
()
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BUDGET", "Cadence", "default_cadence"]

BUDGET = 0.15  # of the run's forward-backward passes (one per step)
PASS_FLOPS = 40.0  # FLOPs of a forward that cost as much as one float64 pass, per parameter
HVPS = 20  # Hessian-vector products per reading (10–31 measured at tol 1e-2)
HVP_COST = 2.5  # forward-backwards per product
PROBE_FORWARDS = 4 / 3  # four forwards at ~1/3 of a forward-backward each
MIN_CHECKS, FEW_CHECKS, MANY_CHECKS = 4, 10, 20  # check intervals


@dataclass(frozen=True)
class Cadence:
    """``every`` (updates between checks), ``hessian_steps`` (the checks that read the
    Hessian), the number of ``checks`` and the estimated ``cost`` and ``budget`` in F."""

    every: int
    hessian_steps: tuple[int, ...]
    checks: int
    cost: float
    budget: float


def _check_steps(steps: int, every: int) -> list[int]:
    """Steps of the checks: 0, every, 2·every, … below T, and T."""
    return list(range(0, steps, every)) + [steps]


def default_cadence(steps: int, *, params: int, flops: float, batch: int,
                    eval_ratio: float = 1.0, sample_rows: int = 0, every: int | None = None,
                    budget: float = BUDGET) -> Cadence:
    """The cadence for a run of ``steps`` updates (see the module docstring).

    ``params``: N trainable parameters; ``flops``: FLOPs of one forward of the training
    batch; ``batch``: samples per training step; ``eval_ratio``: evaluation batch /
    training batch; ``sample_rows``: samples × outputs of the per-sample readings (0
    without them); ``every``: a cadence fixed by the user (then only the Hessian readings
    are chosen).
    """
    if steps < 1 or batch < 1 or params < 1 or not flops > 0:
        raise ValueError(f"need steps, batch, params ≥ 1 and flops > 0, got steps={steps}, "
                         f"batch={batch}, params={params}, flops={flops}")
    fb = 3.0 * flops
    pi = PASS_FLOPS * params / fb
    reading = (eval_ratio * (1 + HVP_COST * HVPS) + 12 * HVPS * pi
               + sample_rows * (8 * pi + 2 / batch))
    total = budget * steps

    def checks_cost(ev: int) -> float:
        n = len(_check_steps(steps, ev))
        return sum(eval_ratio * (1 + PROBE_FORWARDS) + (2 * k + 30) * pi for k in range(n))

    def every_for(k: int) -> int:
        return max(1, steps // k)

    if every is None:
        k = FEW_CHECKS
        while k > MIN_CHECKS and checks_cost(every_for(k)) > total:
            k -= 1
        ev = every_for(k)
    else:
        ev = every
    cost, readings, grow = checks_cost(ev), 0, every is None
    for what in ("H", "K", "H", "H"):
        if what == "K":
            if not grow:
                continue
            more = checks_cost(every_for(MANY_CHECKS))
            if cost - checks_cost(ev) + more > total:
                break
            cost, ev = cost - checks_cost(ev) + more, every_for(MANY_CHECKS)
        else:
            if cost + reading > total:
                break
            cost, readings = cost + reading, readings + 1
    at = _check_steps(steps, ev)
    middle = at[(len(at) - 1) // 2]
    hessian = tuple(sorted(set([at[-1], at[0], middle][:readings])))
    return Cadence(ev, hessian, len(at), cost, total)
