"""Convexity diagnostics: known answers (convex problem, saddle, dense Hessians, finite
differences, per-sample bounds), the harness hook, the store, the CLI and bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from convexlaw.convexity import Convexity, PathRecorder, check_holds, onset_index, pair_holds

torch = pytest.importorskip("torch")
F = torch.nn.functional

from typer.testing import CliRunner  # noqa: E402

from convexlaw.cli import app  # noqa: E402
from convexlaw.convexity import (  # noqa: E402
    ConvexityError,
    Diagnoser,
    HarnessDiagnoser,
    dense_hessian,
    hessian_extremes,
    hvp_fn,
    per_sample,
)
from convexlaw.convexity.hessian import lanczos_extremes  # noqa: E402
from convexlaw.runs import RunStore  # noqa: E402
from convexlaw.train import TrainConfig, build_model, load_dataset, train  # noqa: E402
from convexlaw.train.models import loss_fn  # noqa: E402

SRC = os.path.join(os.path.dirname(__file__), "..", "src")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def digits(n: int = 256, seed: int = 1):
    """Real data: scikit-learn's 8×8 digits (float64), a fixed evaluation batch."""
    ds = load_dataset("digits")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds.train_x), generator=g)[:n]
    return ds, ds.train_x[idx].double(), ds.train_y[idx]


def run_loop(model, loss, batch, data, *, steps, lr, every, momentum=0.0, **kw):
    """A plain training loop with the diagnoser as its callback (as the docs show)."""
    diag = Diagnoser(model, loss, batch, every=every, **kw)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    x, y = data
    g = torch.Generator().manual_seed(0)
    for t in range(1, steps + 1):
        b = torch.randint(len(x), (64,), generator=g) if len(x) > 64 else slice(None)
        out = loss(model(x[b]), y[b])
        opt.zero_grad()
        out.backward()
        diag.before_update(t)
        opt.step()
        diag.after_update(t, lr)
    return diag.finish()


# ---------------------------------------------------------------- known answers
def test_convex_problem_every_path_check_holds_and_t0_is_the_first_check():
    """Multinomial logistic regression on real digits is convex: every iterate-wise and
    star gap is ≥ 0, the curvature along every update is > 0, λ_min ≥ 0, t0 = step 0."""
    ds, xe, ye = digits()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).double()
    res = run_loop(model, F.cross_entropy, (xe, ye), (ds.train_x.double(), ds.train_y),
                   steps=120, lr=0.1, momentum=0.9, every=10, hessian_every=4, samples=4)
    a = res.analysis()
    assert res.K == 13 and res.steps[0] == 0 and res.steps[-1] == 120
    pairs = a["pairs"][np.isfinite(a["pairs"])]
    assert pairs.size == 13 * 12 // 2 and pairs.all()
    assert np.nanmin(res.gaps) > 0 and np.nanmin(res.star_gap) > 0  # strictly, not by tol
    assert (res["curvature"][:-1] > 0).all()
    lam = res["lam_min"][np.isfinite(res["lam_min"])]
    assert lam.size == 4 and (lam >= -1e-9 * np.nanmax(res["lam_max"])).all()
    assert np.nanmax(a["rho"]) == 0
    s = res.summary()
    assert s["t0"] == 0 and s["pairs_holding"] == 1.0 and s["checks_holding"] == 1.0
    # linear model: JJᵀ = (‖x‖² + 1)·I, so the structural gap is exactly 0
    assert np.nanmax(np.abs(res["structural_gap"])) < 1e-9


class Saddle(torch.nn.Module):
    """L(a, b) = (1 − a·b)²: a saddle at 0, minima on a·b = 1. On the diagonal a = b = x
    the Hessian is [[2x², 4x² − 2], [4x² − 2, 2x²]]: curvature along (1, 1) is 6x² − 2,
    negative for x² < 1/3 — the known negative-curvature region."""

    def __init__(self, x0: float) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))

    def forward(self, x):
        return self.a * self.b * x


def test_nonconvex_saddle_checks_fail_in_the_negative_curvature_region():
    one = torch.ones(1, dtype=torch.float64)
    model = Saddle(0.05)
    res = run_loop(model, F.mse_loss, (one, one), (one, one), steps=80, lr=0.05, every=2,
                   hessian_every=1, samples=0)
    a = res.analysis()
    # the path stays on the diagonal; x_t from the loss: L = (1 − x²)²
    x = np.sqrt(1 - np.sqrt(res["loss"]))
    lam_min_exact = np.where(x**2 < 0.5, 6 * x**2 - 2, 2 - 2 * x**2)
    assert np.allclose(res["lam_min"], lam_min_exact, atol=1e-9)  # dense: P = 2
    inside = x**2 < 1 / 3 - 0.02
    outside = x**2 > 1 / 3 + 0.02
    assert inside[:5].all() and outside[-5:].all()
    judged = np.isfinite(a["check_holds"])
    # curvature along the update direction ≈ 6x² − 2 (finite differences, ε = η)
    k = judged & np.isfinite(res["curvature_normalised"])
    assert np.allclose(res["curvature_normalised"][k], 6 * x[k]**2 - 2, atol=0.05)
    assert (a["check_holds"][inside & judged] == 0).all()
    assert (a["check_holds"][outside & judged] == 1).all()
    t0 = res.summary()["t0"]
    assert t0 is not None and t0 > res.steps[inside].max()
    assert t0 <= res.steps[outside & judged].min()
    # the iterate-wise gaps fail inside, and ρ never exceeds max|λ_min| = 2 on the path
    assert np.nanmin(res.gaps[np.ix_(inside, inside)]) < 0
    assert np.nanmax(a["rho"]) <= 2 + 1e-9


def tiny_mlp(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("mlp", 6, in_shape=(1, 8, 8), classes=10).double()


def test_lanczos_extremes_equal_dense_eigvalsh_of_a_tiny_network():
    _, xe, ye = digits(64)
    model = tiny_mlp()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_of(p):
        return loss_fn(torch.func.functional_call(model, p, (xe,)), ye)

    # the reference: torch.func.hessian, flattened (not our Hessian-vector products)
    h = torch.func.hessian(loss_of)(params)
    names = list(params)
    blocks = [[h[a][b].reshape(params[a].numel(), params[b].numel()) for b in names]
              for a in names]
    dense = torch.cat([torch.cat(row, 1) for row in blocks], 0).numpy()
    ev = np.linalg.eigvalsh((dense + dense.T) / 2)
    n = ev.size
    assert n == 502 and ev[0] < 0 < ev[-1]
    assert np.allclose(dense_hessian(model, loss_fn, (xe, ye)), dense, rtol=0, atol=1e-12)
    for kw in (dict(method="arpack", tol=0.0, ncv=40),
               dict(method="lanczos", tol=1e-10, ncv=n)):
        e = hessian_extremes(model, loss_fn, (xe, ye), **kw)
        assert e.converged, kw
        assert abs(e.lam_max - ev[-1]) <= 1e-6 * abs(ev[-1]), (kw, e, ev[-1])
        assert abs(e.lam_min - ev[0]) <= 1e-6 * abs(ev[0]), (kw, e, ev[0])
    hvp = hvp_fn(model, loss_fn, (xe, ye))
    v0 = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    full = lanczos_extremes(hvp, v0, steps=n, tol=0.0, reorthogonalize=True)
    assert abs(full.lam_min - ev[0]) <= 1e-6 * abs(ev[0])
    # a short budget stays inside the spectrum (Ritz values never overshoot)
    short = lanczos_extremes(hvp, v0, steps=8, tol=0.0)
    assert ev[0] - 1e-9 <= short.lam_min and short.lam_max <= ev[-1] + 1e-9


def test_hvp_equals_finite_differences_of_the_gradient():
    """On a tiny byte-GPT (attention, LayerNorm, GELU: smooth) and the MLP, float64."""
    torch.manual_seed(0)
    gpt = build_model("gpt", 16, 1, context=8).double()
    data = torch.randint(0, 256, (4, 9))
    cases = [(gpt, (data[:, :-1], data[:, 1:])), (tiny_mlp(1), digits(64)[1:])]
    for model, batch in cases:
        params = [p for p in model.parameters() if p.requires_grad]
        n = sum(p.numel() for p in params)
        v = torch.randn(n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        hv = hvp_fn(model, loss_fn, batch)(v)
        flat = torch.cat([p.detach().reshape(-1) for p in params]).clone()

        def grad_at(w, model=model, params=params, batch=batch):
            torch.nn.utils.vector_to_parameters(w, params)
            out = loss_fn(model(batch[0]), batch[1])
            return torch.cat([g.reshape(-1) for g in torch.autograd.grad(out, params)])

        h = 1e-5
        fd = (grad_at(flat + h * v) - grad_at(flat - h * v)) / (2 * h)
        torch.nn.utils.vector_to_parameters(flat, params)
        assert float((hv - fd).norm() / fd.norm()) < 1e-6


def test_per_sample_bounds_hold_on_every_sample():
    """‖∇θℓ‖²/λ_max(JJᵀ) ≤ ‖∇zℓ‖² ≤ ‖∇θℓ‖²/λ_min(JJᵀ), sample by sample, and ∇θℓ is the
    real per-sample gradient (checked against one backward pass per sample)."""
    ds, xe, ye = digits(32)
    torch.manual_seed(0)
    cnn = build_model("cnn", 2, in_shape=(1, 8, 8), classes=10).double()
    for model in (tiny_mlp(2), cnn):
        s = per_sample(model, loss_fn, xe, ye, chunk=5)
        assert s["bounds_hold"].tolist() == [1.0] * 32
        g2, gz2 = s["grad_norm"] ** 2, s["gz_norm"] ** 2
        assert (g2 / s["lam_max"] <= gz2 * (1 + 1e-9)).all()
        assert (gz2 <= g2 / s["lam_min"] * (1 + 1e-9)).all()
        assert (s["gap"] > 0).all() and (s["lam_min"] > 0).all()
        model.eval()
        for i in (0, 17, 31):
            out = loss_fn(model(xe[i:i + 1]), ye[i:i + 1])
            grads = torch.autograd.grad(out, [p for p in model.parameters()])
            norm = float(torch.sqrt(sum((g**2).sum() for g in grads)))
            assert math.isclose(norm, s["grad_norm"][i], rel_tol=1e-9)
        model.train()
    gpt = build_model("gpt", 16, 1, context=8)
    assert per_sample(gpt, loss_fn, torch.zeros(2, 8, dtype=torch.long),
                      torch.zeros(2, 8, dtype=torch.long)) is None  # 8 × 256 outputs


# ---------------------------------------------------------------- pure parts
def test_onset_rule_and_pair_tolerance():
    assert onset_index([False, False, True, False, True, True, True, True]) == 2
    assert onset_index([True] * 4) == 0
    assert onset_index([True, True, False, False]) is None  # two failures in the last five
    assert onset_index([True, False, True, False, True]) == 2
    assert onset_index([False, True, True, True, True, False, True, True, True]) == 1
    assert onset_index([True, True, True, False], window=1, fraction=1.0) is None
    with pytest.raises(ValueError, match="window"):
        onset_index([True], window=0)
    r = np.array([[np.nan, -1e-7, -1e-3], [np.nan, np.nan, 0.5], [np.nan] * 3])
    loss = np.array([1.0, 0.9, 0.8])
    p = pair_holds(r, loss[:, None], loss[None, :])
    assert p[0, 1] == 1 and p[0, 2] == 0 and p[1, 2] == 1 and np.isnan(p[1, 0])
    holds = check_holds(p, np.array([1.0, -1.0, np.nan]))
    assert holds[0] == 0 and holds[1] == 0 and np.isnan(holds[2])


def test_checkpoints_on_disk_give_the_same_gaps(tmp_path):
    rng = np.random.default_rng(0)
    ws, gs = rng.standard_normal((5, 1000)), rng.standard_normal((5, 1000))
    mem, disk = PathRecorder(), PathRecorder(tmp_path / "ckpt")
    for t in range(5):
        mem.add(t, ws[t], gs[t], float(t))
        disk.add(t, torch.from_numpy(ws[t]), torch.from_numpy(gs[t]), float(t))
    assert len(list((tmp_path / "ckpt").glob("*.npy"))) == 10
    direct = np.array([[t - s - gs[s] @ (ws[t] - ws[s]) if s < t else np.nan
                        for t in range(5)] for s in range(5)])
    assert np.allclose(mem.gaps(), direct, equal_nan=True, rtol=1e-12)
    assert np.array_equal(mem.gaps(), disk.gaps(), equal_nan=True)
    d2 = np.array([[np.sum((ws[t] - ws[s]) ** 2) if s < t else np.nan for t in range(5)]
                   for s in range(5)])
    assert np.allclose(mem.sq_distances(), d2, equal_nan=True, rtol=1e-12)


def test_checkpoint_matrix_grows_past_its_capacity():
    rng = np.random.default_rng(1)
    ws, gs = rng.standard_normal((11, 300)), rng.standard_normal((11, 300))
    small, plain = PathRecorder(capacity=2), PathRecorder()
    for t in range(11):
        small.add(t, torch.from_numpy(ws[t]), torch.from_numpy(gs[t]), float(t))
        plain.add(t, ws[t], gs[t], float(t))
    assert np.allclose(small.gaps(), plain.gaps(), equal_nan=True, rtol=1e-12)
    direct = [10 - s - gs[s] @ (ws[10] - ws[s]) for s in range(10)]
    assert np.allclose(small.gaps()[:10, 10], direct, rtol=1e-12)


def test_default_cadence_scales_with_the_run_from_its_counts():
    from convexlaw.convexity import default_cadence

    mlp = dict(params=269_322, flops=68.8e6, batch=128, sample_rows=80)  # MLP-256
    gpt = dict(params=120_576, flops=235e6, batch=16)  # byte-GPT 2×64, 16 × 64 tokens
    short, mid, long = (default_cadence(T, **mlp) for T in (1000, 2000, 5000))
    assert (short.every, short.checks, short.hessian_steps) == (100, 11, (1000,))
    assert (mid.every, mid.checks, mid.hessian_steps) == (100, 21, (2000,))
    assert (long.checks, long.hessian_steps) == (21, (0, 2500, 5000))
    assert all(c.cost <= c.budget for c in (short, mid, long))
    assert default_cadence(200, **gpt).hessian_steps == ()
    assert default_cadence(1000, **gpt).hessian_steps == (1000,)
    assert default_cadence(2000, **gpt).hessian_steps == (0, 1000, 2000)
    # a larger evaluation batch costs more: fewer readings for the same run
    assert default_cadence(2000, **{**mlp, "eval_ratio": 4.0}).hessian_steps == ()
    fixed = default_cadence(1000, every=10, **mlp)  # the user's cadence stays
    assert fixed.every == 10 and fixed.checks == 101
    assert default_cadence(3, **mlp).checks == 4  # every update, at least
    with pytest.raises(ValueError, match="steps=0"):
        default_cadence(0, **mlp)


def test_hessian_readings_at_the_given_steps_only():
    ds, x, y = digits(64)
    res = run_loop(tiny_mlp(), loss_fn, (x, y), (x, y), steps=6, lr=0.1, every=2,
                   hessian_steps=[0, 4], samples=2)
    assert res.steps.tolist() == [0, 2, 4, 6]
    assert np.isfinite(res["lam_max"][[0, 2]]).all() and np.isnan(res["lam_max"][[1, 3]]).all()
    assert np.isfinite(res["structural_gap"][[0, 2]]).all()
    assert res.settings["hessian_steps"] == [0, 4]
    with pytest.raises(ConvexityError, match="hessian_steps must be steps ≥ 0, got -1"):
        Diagnoser(tiny_mlp(), loss_fn, (x, y), every=2, hessian_steps=[0, -1])


def test_harness_default_cadence_is_recorded_and_followed():
    hook = HarnessDiagnoser()
    run = train(TrainConfig(model="mlp", size=16, dataset="digits", steps=200, peak=0.1),
                hooks=[hook])
    c, cad = Convexity.from_run(run), hook.cadence
    assert c.steps.tolist() == list(range(0, 200, cad.every)) + [200]
    read = c.steps[np.isfinite(c["lam_max"])].tolist()
    assert read == list(cad.hessian_steps) and c.settings["hessian_steps"] == read
    assert c.settings["cadence"]["estimated_cost"] == cad.cost <= cad.budget
    assert not c.settings["cadence"]["every_given"]


# ---------------------------------------------------------------- harness, store, CLI
@pytest.mark.parametrize("kw", [dict(model="mlp", size=16, dataset="digits"),
                                dict(model="cnn", size=2, dataset="digits", batch_size=32),
                                dict(model="gpt", size=16, depth=1, context=16,
                                     optimizer="adamw", peak=3e-3)])
def test_diagnose_leaves_the_run_unchanged(kw):
    cfg = TrainConfig(steps=24, schedule="cosine", **{"peak": 0.05, **kw})
    plain = train(cfg)
    hook = HarnessDiagnoser(every=6, hessian_every=2, samples=4)
    diagnosed = train(cfg, hooks=[hook])
    for k in plain.curves:
        assert np.array_equal(plain.curves[k][1], diagnosed.curves[k][1]), k
    assert diagnosed.id == plain.id and plain.onset is None
    rec = diagnosed.tags["convexity"]
    assert rec["steps"] == [0, 6, 12, 18, 24] and rec["t0"] == diagnosed.onset
    c = Convexity.from_run(diagnosed)
    assert np.isfinite(c["lam_max"][[0, 2, 4]]).all() and np.isnan(c["lam_max"][1])
    assert np.isfinite(c["curvature"][:-1]).all() and np.isnan(c["curvature"][-1])
    assert c.settings["eps"] == cfg.peak and c.settings["eval_batch"] == plain.batch_size
    diagnosed.validate()


def test_store_runs_show_and_convexity_cli(tmp_path):
    db = tmp_path / "runs.db"
    fig = tmp_path / "c.png"
    out = runner.invoke(app, ["train", "--model", "mlp", "--size", "16", "--dataset",
                              "digits", "--steps", "40", "--peak", "0.1", "--diagnose",
                              "--diagnose-every", "5", "--hessian-every", "4",
                              "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert "convexity: t0 = " in out.output or "never convex-like" in out.output
    run = RunStore(db).list()[0]
    stored = RunStore(db).get(run.id)
    assert stored.tags["convexity"]["steps"] == list(range(0, 41, 5))
    assert Convexity.from_run(stored).summary()["t0"] == stored.onset
    shown = runner.invoke(app, ["runs", "show", run.id, "--db", str(db)])
    assert shown.exit_code == 0 and "convexity" in shown.output
    assert ("t0 = " in shown.output) or ("never convex-like" in shown.output)
    res = runner.invoke(app, ["convexity", run.id, "--db", str(db), "--json", "--plot",
                              str(fig)])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["t0"] == stored.onset and info["checks"] == 9
    assert fig.stat().st_size > 50_000
    strict = runner.invoke(app, ["convexity", run.id, "--db", str(db), "--json",
                                 "--pair-fraction", "1", "--window", "1", "--fraction", "1"])
    assert strict.exit_code == 0
    t_strict = json.loads(strict.stdout)["t0"]
    assert t_strict is None or info["t0"] is None or t_strict >= info["t0"]
    again = runner.invoke(app, ["train", "--model", "mlp", "--size", "16", "--dataset",
                                "digits", "--steps", "40", "--peak", "0.1", "--db", str(db)])
    assert "already stored" in again.output


def test_reference_from_a_longer_run(tmp_path):
    ref = tmp_path / "long.pt"
    long = HarnessDiagnoser(every=20, hessian_every=100, samples=0, save_final=ref)
    base = dict(model="mlp", size=16, dataset="digits", peak=0.1, schedule="cosine")
    train(TrainConfig(steps=80, **base), hooks=[long])
    short = HarnessDiagnoser(every=10, hessian_every=100, samples=0, reference=ref)
    run = train(TrainConfig(steps=40, **base), hooks=[short])
    c = Convexity.from_run(run)
    assert c.reference == "given reference point"
    assert c.settings["reference_file"] == str(ref) and c.K == 5
    assert np.isfinite(c.star_gap).all() and abs(c.star_gap[-1]) > 0  # not trivial at T
    with pytest.raises(ConvexityError, match="reference point has 8 parameters"):
        Diagnoser(tiny_mlp(), loss_fn, digits(8)[1:], every=1, reference=np.zeros(8))
    with pytest.raises(ConvexityError, match="does not exist"):
        HarnessDiagnoser(reference=tmp_path / "missing.pt")


# ---------------------------------------------------------------- bad input
def test_bad_input_gives_one_line_errors(tmp_path):
    batch = digits(8)[1:]
    with pytest.raises(ConvexityError, match="no trainable parameters"):
        Diagnoser(torch.nn.Identity(), loss_fn, batch, every=5)
    with pytest.raises(ConvexityError, match=r"cadence \(every\) must be a positive "
                                             r"integer \(steps\), got 0"):
        Diagnoser(tiny_mlp(), loss_fn, batch, every=0)
    with pytest.raises(ConvexityError, match="got 0"):
        HarnessDiagnoser(every=0)
    out = runner.invoke(app, ["train", "--diagnose", "--diagnose-every", "0", "--steps", "10",
                              "--dataset", "digits", "--db", str(tmp_path / "x.db")])
    assert out.exit_code == 2 and "--diagnose-every 0" in out.output
    assert len(out.output.strip().splitlines()) == 1
    lone = runner.invoke(app, ["train", "--hessian-every", "3", "--steps", "10", "--dataset",
                               "digits", "--db", str(tmp_path / "x.db")])
    assert lone.exit_code == 2 and "need --diagnose" in lone.output
    # a non-finite loss at a checkpoint stops the diagnostics with a message naming it
    model = tiny_mlp()
    diag = Diagnoser(model, loss_fn, batch, every=2)
    for t in range(1, 6):
        if t == 5:
            with torch.no_grad():
                next(model.parameters())[0, 0] = float("nan")
        diag.before_update(t)
        diag.after_update(t, 0.1)
    res = diag.finish()
    assert res.error == "non-finite loss nan on the evaluation batch at checkpoint step 4"
    assert res.steps.tolist() == [0, 2] and res.summary()["error"] == res.error
    res.to_dict()  # still storable
    nan = runner.invoke(app, ["train", "--model", "mlp", "--size", "16", "--dataset",
                              "digits", "--steps", "20", "--peak", "1e30", "--diagnose",
                              "--db", str(tmp_path / "nan.db")])
    assert nan.exit_code == 2 and "convexity diagnostics stopped" in nan.output
    assert "not finite" in nan.output or "non-finite" in nan.output or "finite" in nan.output
    missing = runner.invoke(app, ["convexity", "nope", "--db", str(tmp_path / "nan.db")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_without_torch_the_records_work_and_measuring_says_what_is_missing(tmp_path):
    """Block torch in a fresh interpreter: the numpy side imports and reads a stored record;
    the measuring side and `train --diagnose` fail with one line."""
    run = train(TrainConfig(model="mlp", size=8, dataset="digits", steps=12),
                hooks=[HarnessDiagnoser(every=4, samples=0)])
    db = tmp_path / "r.db"
    RunStore(db).put(run)
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import convexlaw, convexlaw.convexity as cx\n"
        "from convexlaw.runs import RunStore\n"
        f"r = RunStore({str(db)!r}).list()[0]\n"
        "print('t0', cx.Convexity.from_run(r).summary()['t0'] == r.onset)\n"
        "try:\n    cx.Diagnoser\nexcept cx.ConvexityError as e:\n    print('error', e)\n"
        "from convexlaw.cli import app\n"
        "sys.argv = ['convexlaw', 'train', '--diagnose', '--steps', '5', '--db', "
        f"{str(tmp_path / 'n.db')!r}]\n"
        "app()\n")
    env = {**os.environ, "PYTHONPATH": os.path.abspath(SRC)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "t0 True" in p.stdout, p.stderr
    assert "error convexity diagnostics need torch, which is not installed" in p.stdout
    assert p.returncode == 2 and "need torch" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
