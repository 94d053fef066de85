"""Callbacks and the record helper: runs land in the store as they train, killed or not."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import convexlaw
from convexlaw.integrations import Forecast, Recorder, RecorderWarning, record
from convexlaw.integrations.forecast import Planner, bin_means, forecast_final, sweep_best
from convexlaw.runs import Run, RunStore, load_runs

SRC = str(Path(convexlaw.__file__).resolve().parent.parent)
MPL = Path("/work/shared/data/mpl-25m")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core machine: a second intra-op thread only waits."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _db(tmp_path) -> str:
    return str(tmp_path / "runs.db")


def _child(script: str, tmp_path: Path) -> subprocess.Popen:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(script))
    env = {**os.environ, "PYTHONPATH": SRC, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen, db: str, run_id: str, min_updates: int,
               timeout: float = 240.0) -> None:
    """SIGKILL the child once the store holds >= min_updates of its run (read by a second
    connection while the child keeps writing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"child ended before the kill: {proc.stderr.read().decode()}")
        if os.path.exists(db):
            rows = RunStore(db).summaries(id=run_id)
            if rows and rows[0]["T"] >= min_updates:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError(f"no {min_updates} updates stored within {timeout} s")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _assert_consistent_prefix(run: Run, expected_lrs: np.ndarray, flush_every: int) -> None:
    """A killed run: status running, a whole number of flushes, LRs the planned prefix."""
    assert run.status == "running"
    assert run.T % flush_every == 0 and run.T >= flush_every
    np.testing.assert_array_equal(run.lrs, expected_lrs[:run.T])
    s, _ = run.curve("train")
    assert s[-1] <= run.T
    run.validate()


# ====================================================================== record / Recorder
def test_record_stores_what_the_loop_logged(tmp_path):
    db = _db(tmp_path)
    T = 50
    lrs = convexlaw.schedule("cosine+warmup(5)", T, peak=0.1)
    cfg = {"model": "toy", "width": 16, "dims": (3, 4), "path": tmp_path}
    with convexlaw.record(db, cfg, name="toy", steps=T, schedule="cosine+warmup(5)",
                          peak_lr=0.1, N=1234, optimizer="sgd", batch_size=32, seed=7,
                          sweep="s", tags={"note": "x"}) as rec:
        rec.log_value("val", 0, 2.5)
        for t in range(1, T + 1):
            rec.log(t, float(lrs[t - 1]), 2.0 + 1.0 / t, grad_norm=1.0 / t,
                    val=(2.1 + 1.0 / t) if t % 10 == 0 else None)
    run = RunStore(db).get("toy")
    assert run.status == "finished" and run.id == rec.id
    np.testing.assert_array_equal(run.lrs, lrs)
    s, v = run.curve("train")
    np.testing.assert_array_equal(s, np.arange(1, T + 1))
    np.testing.assert_allclose(v, 2.0 + 1.0 / s, rtol=0, atol=0)
    assert run.curve("val")[0].tolist() == [10, 20, 30, 40, 50]
    assert run.tags["initial_val"] == 2.5
    assert run.schedule == "cosine+warmup(5)" and run.peak_lr == 0.1
    assert (run.N, run.optimizer, run.batch_size, run.seed) == (1234.0, "sgd", 32, 7)
    assert run.tags["config"] == {"model": "toy", "width": 16, "dims": [3, 4],
                                  "path": str(tmp_path)}
    assert run.tags["sweep"] == "s" and run.tags["note"] == "x"
    assert run.tags["steps_done"] == T and run.tags["planned_steps"] == T


def test_optimizer_as_lr_and_model_as_N(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    with record(_db(tmp_path), name="opt", model=net) as rec:
        for t in range(1, 8):
            loss = net(torch.ones(1, 3)).pow(2).sum()
            opt.zero_grad()
            loss.backward()
            rec.log(t, opt, loss)  # a tensor loss, converted at the flush
            opt.step()
            sched.step()
    run = RunStore(_db(tmp_path)).get("opt")
    assert run.lrs.tolist() == [0.5] * 3 + [0.25] * 3 + [0.125]
    assert run.N == 3 * 4 + 4 + 4 * 2 + 2


def test_each_flush_is_one_consistent_run(tmp_path):
    """With flush_every=k a second connection sees exactly the first multiple of k."""
    db = _db(tmp_path)
    reader = RunStore(db)
    seen = []
    with record(db, name="f", run_id="flush0001", flush_every=7) as rec:
        for t in range(1, 31):
            rec.log(t, 0.1, 1.0 / t)
            rows = reader.summaries(id="flush0001")
            seen.append(rows[0]["T"] if rows else 0)
            if rows:
                run = reader.get("flush0001")
                assert run.status == "running" and run.curve("train")[0][-1] == run.T
    assert seen == [7 * (t // 7) for t in range(1, 31)]
    assert reader.get("f").status == "finished" and reader.get("f").T == 30


def test_time_based_flushes_are_spaced(tmp_path):
    with record(_db(tmp_path), name="t", flush_secs=3600) as rec:
        for t in range(1, 200):
            rec.log(t, 0.1, 1.0)
        assert rec.flushes == 0  # nothing before an hour, or the end
    assert rec.flushes == 1


def test_bad_logging_is_refused_with_a_clear_message(tmp_path):
    rec = Recorder(_db(tmp_path), name="bad")
    rec.log(1, 0.1, 1.0)
    with pytest.raises(ValueError, match="learning rate for update 3, expected update 2"):
        rec.log(3, 0.1)
    with pytest.raises(ValueError, match=r"learning rate -0.1 at update 2; expected a finite"):
        rec.log(2, -0.1)
    with pytest.raises(ValueError, match="learning rate nan at update 2"):
        rec.log(2, float("nan"))
    with pytest.raises(ValueError, match="curve 'train': step 1 after step 1"):
        rec.log_value("train", 1, 0.5)
    with pytest.raises(ValueError, match="step must be an integer >= 1"):
        rec.log(1.5, 0.1)
    with pytest.raises(ValueError, match="a number or a scalar tensor, got str"):
        rec.log_value("val", 2, "low")
    with pytest.raises(ValueError, match="config must be a mapping"):
        Recorder(_db(tmp_path), ["lr", 0.1])
    with pytest.raises(ValueError, match="flush_every must be an integer >= 1, got 0"):
        Recorder(_db(tmp_path), flush_every=0)
    with pytest.raises(ValueError, match="forecast needs steps"):
        Recorder(_db(tmp_path), forecast=True)
    with pytest.raises(ValueError, match="forecast model 'nope' is not one of"):
        Recorder(_db(tmp_path), steps=10, forecast=Forecast(model="nope"))
    with pytest.raises(ValueError, match=r"forecast burn_in = 0.5; expected a fraction"):
        Forecast(start=0.3, burn_in=0.5).validate()


def test_warmup_from_zero_is_stored_once_a_rate_is_positive(tmp_path):
    db = _db(tmp_path)
    rec = Recorder(db, name="w", flush_every=1)
    rec.log(1, 0.0, 3.0)
    assert not os.path.exists(db) or len(RunStore(db)) == 0  # all-zero LRs: not a run yet
    rec.log(2, 0.05, 2.9)
    assert RunStore(db).get("w").lrs.tolist() == [0.0, 0.05]


def test_an_exception_leaves_a_running_run_with_the_error(tmp_path):
    db = _db(tmp_path)
    with pytest.raises(KeyError):
        with record(db, name="e", steps=100) as rec:
            for t in range(1, 11):
                rec.log(t, 0.1, 1.0)
            raise KeyError("data loader broke")
    run = RunStore(db).get("e")
    assert run.status == "running" and run.T == 10
    assert run.tags["error"].startswith("KeyError")
    assert rec.closed


def test_non_finite_loss_marks_diverged_and_bad_grad_norms_are_dropped(tmp_path):
    db = _db(tmp_path)
    with record(db, name="d") as rec:
        for t in range(1, 6):
            rec.log(t, 0.1, [1.0, 0.9, float("nan"), float("inf"), 0.8][t - 1],
                    grad_norm=float("inf") if t == 2 else 1.0)
    run = RunStore(db).get("d")
    assert run.status == "diverged" and run.tags["diverged_at"] == 3
    assert math.isnan(run.curve("train")[1][2])
    assert run.curve("grad_norm")[0].tolist() == [1, 3, 4, 5]
    assert run.tags["dropped_nonfinite"] == {"grad_norm": 1}


def test_schedule_spec_is_kept_only_while_the_rates_follow_it(tmp_path):
    db = _db(tmp_path)
    lrs = convexlaw.schedule("linear+warmup(3)", 20, peak=0.2)
    with record(db, name="ok", steps=20, schedule="linear+warmup(3)", peak_lr=0.2) as rec:
        for t in range(1, 21):
            rec.log(t, float(lrs[t - 1]), 1.0)
    assert RunStore(db).get("ok").schedule == "linear+warmup(3)"
    with pytest.warns(RecorderWarning, match="update 5 has learning rate 0.001"):
        with record(db, name="off", steps=20, schedule="linear+warmup(3)", peak_lr=0.2) as rec:
            for t in range(1, 21):
                rec.log(t, 0.001 if t == 5 else float(lrs[t - 1]), 1.0)
    run = RunStore(db).get("off")
    assert run.schedule is None and "update 5" in run.tags["schedule_mismatch"]


def test_resume_at_keeps_the_checkpointed_updates(tmp_path):
    db = _db(tmp_path)
    rec = Recorder(db, name="r", run_id="resume001", flush_every=5)
    for t in range(1, 13):
        rec.log(t, 0.1 / t, 1.0 / t, val=2.0 / t if t % 4 == 0 else None)
    del rec  # the job dies: the store holds 10 updates (two flushes)
    assert RunStore(db).get("r").T == 10
    rec = Recorder(db, name="r", run_id="resume001", flush_every=5)
    rec.resume_at(8)  # the last checkpoint was after update 8
    for t in range(9, 16):
        rec.log(t, 0.1 / t, 1.0 / t, val=2.0 / t if t % 4 == 0 else None)
    rec.finish()
    run = RunStore(db).get("r")
    np.testing.assert_array_equal(run.lrs, 0.1 / np.arange(1, 16))
    assert run.curve("train")[0].tolist() == list(range(1, 16))
    assert run.curve("val")[0].tolist() == [4, 8, 12]
    assert run.tags["resumed_at"] == [8] and run.status == "finished"
    with pytest.raises(ValueError, match="holds only 15 updates"):
        Recorder(db, run_id="resume001").resume_at(20)
    with pytest.raises(ValueError, match="is not in"):
        Recorder(db, run_id="nosuchrun").resume_at(3)


_PLAIN_CHILD = """
    from convexlaw.integrations import record
    T = 10 ** 7
    with record({db!r}, {{"k": 1}}, name="kill", run_id="kill00000001", steps=T,
                flush_every=10) as rec:
        for t in range(1, T + 1):
            rec.log(t, 0.1 * (1 - (t - 1) / T), 1.0 / t, val=2.0 / t if t % 3 == 0 else None)
"""


@pytest.mark.parametrize("min_updates", [10, 300])
def test_record_killed_with_sigkill_leaves_a_consistent_run(tmp_path, min_updates):
    """SIGKILL while it flushes every 10 updates (most of its time is spent writing)."""
    db = _db(tmp_path)
    proc = _child(_PLAIN_CHILD.format(db=db), tmp_path)
    _kill_when(proc, db, "kill00000001", min_updates)
    store = RunStore(db)
    assert store.integrity_check() == "ok"
    run = store.get("kill00000001")
    T = 10 ** 7
    _assert_consistent_prefix(run, 0.1 * (1 - np.arange(run.T + 1) / T), 10)
    s, v = run.curve("train")
    np.testing.assert_array_equal(s, np.arange(1, run.T + 1))
    np.testing.assert_array_equal(v, 1.0 / s)
    assert run.curve("val")[0].tolist() == list(range(3, run.T + 1, 3))


def test_record_keeps_the_core_free_of_torch():
    code = ("import sys, convexlaw; convexlaw.record; from convexlaw.integrations import "
            "Forecast, Recorder; assert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": SRC},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# ====================================================================== forecast
def test_bin_means_average_consecutive_points():
    s, v = bin_means(np.arange(1, 11), np.arange(10.0), 5)
    assert s.tolist() == [2, 4, 6, 8, 10] or s.tolist() == [2, 4, 6, 8, 10]
    np.testing.assert_allclose(v, [0.5, 2.5, 4.5, 6.5, 8.5])
    s2, v2 = bin_means(np.arange(1, 4), np.ones(3), 5)
    assert s2.tolist() == [1, 2, 3]


def test_planner_refuses_a_plan_the_logged_rates_contradict():
    plan = Planner(np.full(10, 0.1), 10)
    assert "update 3 used learning rate 0.2" in plan.planned(np.array([0.1, 0.1, 0.2]))
    assert "no planned learning rates" in Planner(None, 10).planned(np.ones(2))
    assert "4 planned learning rates, expected T = 10" in Planner(np.ones(4), 10).planned(
        np.ones(2))
    # a future() is asked again when the rates stop following the cached plan
    calls = []

    def future(k):
        calls.append(k)
        return np.full(10 - k + 1, 0.1 if k < 5 else 0.05)

    p = Planner(future, 10)
    assert p.planned(np.full(3, 0.1)).tolist() == [0.1] * 10
    got = p.planned(np.array([0.1] * 5 + [0.05]))
    assert calls == [3, 6] and got.tolist() == [0.1] * 5 + [0.05] * 5


@pytest.mark.skipif(not MPL.exists(), reason="shared published curves not available")
@pytest.mark.parametrize("name,frac", [("cosine_24000", 0.5), ("cosine_72000", 0.3)])
def test_forecast_of_a_published_llm_curve_from_its_first_part(name, frac):
    """The 25M LLM runs of the Multi-Power-Law paper: the final loss forecast from the
    first 30-50 % of the curve, with the known future learning rates, is within 1 %."""
    full = load_runs([MPL / f"{name}.csv"])[0]
    s, v = full.curve("train")
    done = int(frac * full.T)
    part = Run(full.name, lrs=full.lrs[:done], curves={"train": (s[s <= done], v[s <= done])})
    out = forecast_final(part, Planner(full.lrs, full.T), Forecast(model="convex-ed"), full.T)
    assert out["identified"] and out["step"] == done
    assert abs(out["final_loss"] / v[-1] - 1) < 0.01, out


def _synthetic(T: int, D: float, G: float, L: float = 2.0):
    lrs = convexlaw.schedule("cosine+warmup(20)", T, peak=0.1)
    return lrs, L + convexlaw.bound(lrs, D=D, G=G)


def test_online_forecast_recovers_the_final_loss_and_says_if_on_track(tmp_path):
    """Curves of the literal bound itself: the fit is exact, so the forecast is the truth;
    against a finished run of the same sweep that ended lower it is 'behind'."""
    db = _db(tmp_path)
    T = 400
    lrs, good = _synthetic(T, D=0.5, G=1.0)
    store = RunStore(db)
    store.put(Run("best", lrs=lrs, curves={"train": (np.arange(2, T + 1), good[1:])},
                  tags={"sweep": "pilots"}))
    _, worse = _synthetic(T, D=0.5, G=2.0)
    opts = Forecast(model="convex", start=0.5, every=0.2, bins=T, bin_updates=1,
                    final_window=0)  # no averaging: exact
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with record(db, name="pilot", steps=T, schedule="cosine+warmup(20)", peak_lr=0.1,
                    sweep="pilots", forecast=opts) as rec:
            for t in range(1, T + 1):
                rec.log(t, float(lrs[t - 1]), float(worse[t - 1]) if t > 1 else None)
    fc = RunStore(db).get("pilot").tags["forecast"]
    assert [h[0] for h in fc["history"]] == [200, 280, 360]
    assert fc["final_loss"] == pytest.approx(worse[-1], rel=1e-6)
    assert fc["sweep_best_run"] == "best" and fc["on_track"] is False
    assert fc["sweep_best"] == good[-1]
    # a dense curve's final loss is averaged over the fit's bin width
    assert sweep_best(store, "pilots", T, "train", width=3) == (
        pytest.approx(good[-3:].mean()), "best")


def test_forecast_without_planned_rates_says_why(tmp_path):
    with pytest.warns(RecorderWarning, match="no planned learning rates"):
        with record(_db(tmp_path), name="np", steps=40, forecast=True) as rec:
            for t in range(1, 41):
                rec.log(t, 0.1, 1.0 / t)
    fc = RunStore(_db(tmp_path)).get("np").tags["forecast"]
    assert "no planned learning rates" in fc["error"] and fc["step"] == 12


# ====================================================================== torch helpers
def test_future_lrs_match_what_the_scheduler_will_set():
    torch = pytest.importorskip("torch")
    from convexlaw.integrations import future_lrs

    L = torch.optim.lr_scheduler
    makers = {
        "onecycle": lambda o: L.OneCycleLR(o, max_lr=0.05, total_steps=60),
        "sequential": lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, total_iters=10),
                                                   L.CosineAnnealingLR(o, 50)], milestones=[10]),
        "chained": lambda o: L.ChainedScheduler([L.ExponentialLR(o, 0.97),
                                                 L.StepLR(o, 7, 0.5)]),
        "restarts": lambda o: L.CosineAnnealingWarmRestarts(o, 13),
    }
    for name, make in makers.items():
        w = torch.nn.Parameter(torch.zeros(2))
        opt = torch.optim.AdamW([w], lr=0.01)
        sched = make(opt)
        real, fut = [], None
        for t in range(60):
            if t == 17:
                fut = future_lrs(sched, 60 - 17)
            real.append(opt.param_groups[0]["lr"])
            w.grad = torch.ones_like(w)
            opt.step()
            sched.step()
        # exact: the copy repeats the same float operations; the real run was untouched
        assert fut.tolist() == real[17:], name
    plateau = L.ReduceLROnPlateau(torch.optim.SGD([w], lr=0.1))
    with pytest.raises(ValueError, match="cannot be planned ahead"):
        future_lrs(plateau, 3)


# ====================================================================== Lightning
def _lightning_module():
    torch = pytest.importorskip("torch")
    L = pytest.importorskip("lightning.pytorch")

    class Tiny(L.LightningModule):
        """An MLP on scikit-learn's 8×8 digits; records what the optimizer used."""

        def __init__(self, width: int = 32, lr: float = 0.1, steps: int = 40):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, width),
                                           torch.nn.ReLU(), torch.nn.Linear(width, 10))
            self.micro, self.norms = [], []

        def training_step(self, batch, i):
            loss = torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])
            self.micro.append((self.trainer.global_step, loss.item()))
            return loss

        def validation_step(self, batch, i):
            self.log("val_loss", torch.nn.functional.cross_entropy(self.net(batch[0]),
                                                                    batch[1]))

        def on_before_optimizer_step(self, optimizer):
            self.norms.append(torch.nn.utils.get_total_norm(
                [p.grad for p in self.parameters()]).item())

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
            warm = torch.optim.lr_scheduler.LinearLR(opt, 0.1, 1.0, total_iters=5)
            cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.hparams.steps - 5)
            sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[5])
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return Tiny


def _digits_loaders(batch: int = 32):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    from convexlaw.train import load_dataset

    ds = load_dataset("digits")
    g = torch.Generator().manual_seed(0)
    train = DataLoader(TensorDataset(ds.train_x, ds.train_y), batch_size=batch, shuffle=True,
                       generator=g)
    return train, DataLoader(TensorDataset(ds.val_x, ds.val_y), batch_size=300)


def _expected_sequential(lr: float, steps: int, n: int | None = None) -> list[float]:
    """The first n (default all) learning rates of Tiny's warm-up + cosine scheduler."""
    import torch

    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=lr, momentum=0.9)
    warm = torch.optim.lr_scheduler.LinearLR(opt, 0.1, 1.0, total_iters=5)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps - 5)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[5])
    out = []
    for _ in range(steps if n is None else n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _quiet_trainer(**kw):
    import lightning.pytorch as L

    return L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0, **kw)


def test_lightning_callback_records_what_the_scheduler_set(tmp_path):
    torch = pytest.importorskip("torch")
    Tiny = _lightning_module()
    from convexlaw.integrations import LightningCallback

    torch.manual_seed(0)
    T = 40
    module = Tiny(steps=T)
    train, val = _digits_loaders(batch=16)  # 94 batches: all 2T of them in epoch 0
    cb = LightningCallback(_db(tmp_path), {"data": "digits"}, name="pl",
                           forecast=Forecast(model="convex-ed", start=0.5, every=0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _quiet_trainer(max_steps=T, accumulate_grad_batches=2, val_check_interval=20,
                       callbacks=[cb]).fit(module, train, val)
    run = RunStore(_db(tmp_path)).get("pl")
    assert run.status == "finished" and run.T == T
    assert run.lrs.tolist() == _expected_sequential(0.1, T)
    # training loss of update t = mean of its two micro-batch losses
    micro = np.array([v for _, v in module.micro]).reshape(T, 2).mean(axis=1)
    s, v = run.curve("train")
    assert s.tolist() == list(range(1, T + 1))
    np.testing.assert_allclose(v, micro, rtol=1e-6)
    gs, gv = run.curve("grad_norm")  # every 10 updates by default
    assert gs.tolist() == [10, 20, 30, 40]
    np.testing.assert_allclose(gv, module.norms[9::10], rtol=1e-6)
    assert run.curve("val")[0].tolist() == [10, 20, 30, 40]
    assert run.N == sum(p.numel() for p in module.parameters())
    assert run.batch_size == 32 and run.optimizer == "sgd"
    assert run.tags["config"] == {"data": "digits", "width": 32, "lr": 0.1, "steps": T}
    assert run.tags["scheduler"] == "SequentialLR"
    assert run.tags["trainer"]["accumulate_grad_batches"] == 2
    fc = run.tags["forecast"]
    assert [h[0] for h in fc["history"]] == [20, 30] and math.isfinite(fc["final_loss"])


def test_lightning_resume_from_checkpoint_continues_the_run(tmp_path):
    torch = pytest.importorskip("torch")
    Tiny = _lightning_module()
    import lightning.pytorch as L

    from convexlaw.integrations import LightningCallback

    T = 30

    class Crash(L.Callback):
        def on_train_batch_end(self, trainer, *a):
            if trainer.global_step == 17:
                raise RuntimeError("node lost")

    ckpt = L.callbacks.ModelCheckpoint(dirpath=tmp_path / "ck", every_n_train_steps=10,
                                       save_top_k=-1)
    torch.manual_seed(0)
    train, val = _digits_loaders()
    cb = LightningCallback(_db(tmp_path), name="res", flush_every=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="node lost"):
            L.Trainer(max_steps=T, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[cb, ckpt, Crash()],
                      limit_val_batches=0).fit(Tiny(steps=T), train)
        crashed = RunStore(_db(tmp_path)).get("res")
        assert crashed.status == "running" and crashed.T == 17
        assert crashed.tags["error"] == "RuntimeError: node lost"
        cb2 = LightningCallback(_db(tmp_path), name="res")  # run id comes from the checkpoint
        L.Trainer(max_steps=T, logger=False, enable_progress_bar=False,
                  enable_model_summary=False, callbacks=[cb2], limit_val_batches=0,
                  enable_checkpointing=False).fit(
            Tiny(steps=T), train, ckpt_path=str(tmp_path / "ck" / "epoch=0-step=10.ckpt"))
    run = RunStore(_db(tmp_path)).get(crashed.id)
    assert cb2.run_id == crashed.id and len(RunStore(_db(tmp_path))) == 1
    assert run.status == "finished" and run.tags["resumed_at"] == [10]
    assert run.lrs.tolist() == _expected_sequential(0.1, T)
    assert run.curve("train")[0].tolist() == list(range(1, T + 1))


_LIGHTNING_CHILD = """
    import sys, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    import lightning.pytorch as L
    from test_integrations import _lightning_module, _digits_loaders, _quiet_trainer
    from convexlaw.integrations import LightningCallback
    Tiny = _lightning_module()
    torch.manual_seed(0)
    train, val = _digits_loaders()
    cb = LightningCallback({db!r}, name="pl-kill", run_id="plkill000001", flush_every=5)
    _quiet_trainer(max_steps=100000, callbacks=[cb]).fit(Tiny(steps=100000), train)
"""


@pytest.mark.slow
def test_lightning_run_killed_with_sigkill_is_stored_consistently(tmp_path):
    pytest.importorskip("lightning.pytorch")
    db = _db(tmp_path)
    proc = _child(_LIGHTNING_CHILD.format(db=db, tests=str(Path(__file__).parent)), tmp_path)
    _kill_when(proc, db, "plkill000001", 30)
    store = RunStore(db)
    assert store.integrity_check() == "ok"
    run = store.get("plkill000001")
    _assert_consistent_prefix(run, np.array(_expected_sequential(0.1, 100000, run.T)), 5)
    s, v = run.curve("train")
    assert s.tolist() == list(range(1, run.T + 1)) and np.isfinite(v).all()
    assert run.curve("grad_norm")[0].tolist() == list(range(10, run.T + 1, 10))


# ====================================================================== transformers
CTX = 32


@pytest.fixture(scope="module")
def bytes_data():
    pytest.importorskip("transformers")
    from convexlaw.train import load_dataset

    return load_dataset("kjv")


def _windows(t, n: int, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(t) - CTX - 1, (n,), generator=g).tolist()
    return [{"input_ids": t[j:j + CTX].long(), "labels": t[j:j + CTX].long()} for j in starts]


def _hf_trainer(tmp_path, data, callbacks, steps=24, **args):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=CTX, n_embd=32,
                                       n_layer=1, n_head=2))
    defaults = dict(output_dir=str(tmp_path / "hf"), max_steps=steps, learning_rate=3e-3,
                    lr_scheduler_type="cosine", warmup_steps=4,
                    per_device_train_batch_size=4, gradient_accumulation_steps=2,
                    logging_steps=1, eval_strategy="steps", eval_steps=8,
                    per_device_eval_batch_size=16, save_strategy="no", report_to=[],
                    use_cpu=True, disable_tqdm=True, seed=0, dataloader_num_workers=0)
    targs = TrainingArguments(**{**defaults, **args})
    return Trainer(model=model, args=targs, train_dataset=_windows(data.train, 400, 0),
                   eval_dataset=_windows(data.val, 32, 1), callbacks=callbacks), model


def _spy():
    from transformers import TrainerCallback

    class Spy(TrainerCallback):
        """What the Trainer itself reports: LR before each step, logs, evaluations."""

        def __init__(self):
            self.lrs, self.logs, self.evals = [], [], []

        def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kw):
            self.lrs.append(optimizer.param_groups[0]["lr"])

        def on_log(self, args, state, control, logs=None, **kw):
            if "loss" in logs:
                self.logs.append((state.global_step, logs["loss"], logs.get("grad_norm")))

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            self.evals.append((state.global_step, metrics["eval_loss"]))

    return Spy()


def _hf_expected(kind: str, peak: float, warm: int, steps: int) -> list[float]:
    import torch
    from transformers import get_scheduler

    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([w], lr=peak)
    sched = get_scheduler(kind, opt, num_warmup_steps=warm, num_training_steps=steps)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_hf_callback_records_what_the_scheduler_set(tmp_path, bytes_data):
    from convexlaw.integrations import HFCallback

    spy = _spy()
    cb = HFCallback(_db(tmp_path), {"data": "kjv"}, name="hf",
                    forecast=Forecast(model="convex-ed", start=0.5, every=0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer, model = _hf_trainer(tmp_path, bytes_data, [cb, spy], eval_on_start=True)
        trainer.train()
    run = RunStore(_db(tmp_path)).get("hf")
    T = 24
    assert run.status == "finished" and run.T == T
    assert run.lrs.tolist() == _hf_expected("cosine", 3e-3, 4, T) == spy.lrs
    assert run.schedule == "cosine+warmup(4)" and run.peak_lr == 3e-3
    np.testing.assert_array_equal(run.lrs, convexlaw.schedule("cosine+warmup(4)", T, 3e-3))
    s, v = run.curve("train")
    assert s.tolist() == [g for g, _, _ in spy.logs] == list(range(1, T + 1))
    np.testing.assert_allclose(v, [x for _, x, _ in spy.logs], rtol=1e-12)
    np.testing.assert_allclose(run.curve("grad_norm")[1], [g for _, _, g in spy.logs],
                               rtol=1e-12)
    assert run.curve("val")[0].tolist() == [8, 16, 24]
    assert run.tags["initial_val"] == pytest.approx(spy.evals[0][1])
    assert run.N == sum(p.numel() for p in model.parameters())
    assert run.batch_size == 8 and run.seed == 0 and run.optimizer == "adamw"
    assert run.tags["config"]["n_embd"] == 32 and run.tags["config"]["data"] == "kjv"
    assert run.tags["training_args"]["lr_scheduler_type"] == "cosine"
    fc = run.tags["forecast"]  # at update 12 only 9 points follow the burn-in: none then
    assert [h[0] for h in fc["history"]] == [18] and math.isfinite(fc["final_loss"])


def test_hf_callback_with_a_scheduler_of_your_own(tmp_path, bytes_data):
    """A OneCycleLR passed through optimizers=: no convexlaw spec, LRs still exact, and
    the forecast's plan comes from stepping a copy of that scheduler."""
    import torch

    from convexlaw.integrations import HFCallback

    spy = _spy()
    cb = HFCallback(_db(tmp_path), name="hf1", forecast=Forecast(model="convex-ed",
                                                                 start=0.5, every=0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer, model = _hf_trainer(tmp_path, bytes_data, [cb, spy], logging_steps=3)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-3, total_steps=24)
        trainer.optimizer, trainer.lr_scheduler = opt, sched
        trainer.train()
    run = RunStore(_db(tmp_path)).get("hf1")
    assert run.lrs.tolist() == spy.lrs and run.schedule is None
    assert run.peak_lr == max(spy.lrs) and max(spy.lrs) == pytest.approx(5e-3, rel=0.02)
    assert run.curve("train")[0].tolist() == list(range(3, 25, 3))  # logging_steps=3
    assert run.tags["train_loss_window"] == 3 and run.tags["scheduler"] == "OneCycleLR"
    # the plan made at update 12 from a copy of the scheduler = all 24 rates it then set
    # (too few logged losses for a fit yet: the forecast says so)
    assert cb.recorder.planner.plan.tolist() == spy.lrs
    assert "3 'train' points after the burn-in" in run.tags["forecast"]["error"]


def test_hf_resume_from_checkpoint_continues_the_run(tmp_path, bytes_data):
    """A checkpoint after update 8, the job dies after 12 (store flushed every update):
    resumed with the same run_id, updates 9..16 replace 9..12; without it, a warning and
    no record, and the training itself goes on."""
    from transformers import TrainerCallback

    from convexlaw.integrations import HFCallback

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 12:
                raise RuntimeError("preempted")

    db, T = _db(tmp_path), 16
    ck = dict(save_strategy="steps", save_steps=8, eval_strategy="no")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = HFCallback(db, name="hfres", run_id="hfresume0001", flush_every=1)
        trainer, _ = _hf_trainer(tmp_path, bytes_data, [first, Crash()], steps=T, **ck)
        with pytest.raises(RuntimeError, match="preempted"):
            trainer.train()
        assert RunStore(db).get("hfres").T == 11  # update 12's loss never came: not flushed
        again = HFCallback(db, name="hfres", run_id="hfresume0001")
        trainer, _ = _hf_trainer(tmp_path, bytes_data, [again], steps=T, **ck)
        trainer.train(resume_from_checkpoint=str(tmp_path / "hf" / "checkpoint-8"))
    run = RunStore(db).get("hfresume0001")
    assert run.status == "finished" and run.tags["resumed_at"] == [8]
    assert run.lrs.tolist() == _hf_expected("cosine", 3e-3, 4, T)
    assert run.curve("train")[0].tolist() == list(range(1, T + 1))
    lost = HFCallback(db, name="lost")
    with pytest.warns(RecorderWarning, match="not recording this resumed run"):
        trainer, _ = _hf_trainer(tmp_path, bytes_data, [lost], steps=T, **ck)
        trainer.train(resume_from_checkpoint=str(tmp_path / "hf" / "checkpoint-8"))
    assert lost.recorder is None and len(RunStore(db)) == 1


_HF_CHILD = """
    import sys, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from test_integrations import _hf_trainer
    from convexlaw.integrations import HFCallback
    from convexlaw.train import load_dataset
    cb = HFCallback({db!r}, name="hf-kill", run_id="hfkill000001", flush_every=5)
    trainer, _ = _hf_trainer(Path({tmp!r}), load_dataset("kjv"), [cb], steps=100000,
                             eval_strategy="no", lr_scheduler_type="linear", warmup_steps=10)
    trainer.train()
"""


@pytest.mark.slow
def test_hf_run_killed_with_sigkill_is_stored_consistently(tmp_path):
    pytest.importorskip("transformers")
    db = _db(tmp_path)
    proc = _child(_HF_CHILD.format(db=db, tests=str(Path(__file__).parent),
                                   tmp=str(tmp_path)), tmp_path)
    _kill_when(proc, db, "hfkill000001", 30)
    store = RunStore(db)
    assert store.integrity_check() == "ok"
    run = store.get("hfkill000001")
    expected = convexlaw.schedule("linear+warmup(10)", 100000, peak=3e-3)
    _assert_consistent_prefix(run, expected, 5)
    assert run.schedule == "linear+warmup(10)"
    assert run.curve("train")[0].tolist() == list(range(1, run.T + 1))
