"""The training harness: real data, sized models, optimizers, the loop."""

from __future__ import annotations

import gzip
import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import convexlaw  # noqa: E402
from convexlaw.runs import Run, RunStore  # noqa: E402
from convexlaw.train import (  # noqa: E402
    Batches,
    Muon,
    MuonNSGD,
    TrainConfig,
    build_model,
    heldout,
    load_dataset,
    newton_schulz,
    param_count,
    train,
)
from convexlaw.train.data import fashion_mnist_dir, read_idx  # noqa: E402
from convexlaw.train.optim import build_optimizers, split_params  # noqa: E402

HAS_FASHION = fashion_mnist_dir() is not None


# ---------------------------------------------------------------- data
@pytest.mark.skipif(not HAS_FASHION, reason="Debian dataset-fashion-mnist not installed")
def test_fashion_mnist_is_parsed_from_idx():
    ds = load_dataset("fashion-mnist")
    assert tuple(ds.train_x.shape) == (60000, 1, 28, 28)
    assert tuple(ds.val_x.shape) == (10000, 1, 28, 28)
    assert ds.classes == 10
    # 6,000 images per class in the official training set
    assert np.bincount(ds.train_y.numpy()).tolist() == [6000] * 10
    # standardised with the training statistics
    assert abs(ds.train_x.mean().item()) < 1e-3 and abs(ds.train_x.std().item() - 1) < 1e-3


def test_read_idx_refuses_bad_files(tmp_path):
    bad = tmp_path / "x.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x01\x02\x08\x01" + b"\x00\x00\x00\x03abc")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "y.gz"
    with gzip.open(short, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match="promises 5 bytes"):
        read_idx(short)
    with pytest.raises(FileNotFoundError, match="lacks one of"):
        fashion_mnist_dir(tmp_path)


def test_byte_corpora_are_real_text():
    kjv = load_dataset("kjv")
    head = bytes(kjv.train[:100].numpy()).decode()
    assert head.startswith("Genesis 1:1 In the beginning God created the heaven and the earth.")
    assert b"Revelation 22:21" in bytes(kjv.val.numpy())  # held-out = the end of the book
    assert 0.09 < len(kjv.val) / (len(kjv.train) + len(kjv.val)) < 0.11
    news = load_dataset("news")
    assert len(news.train) > 1_000_000
    assert b"Betsy DeVos" in bytes(news.train[:2000].numpy())


def test_digits_split_is_fixed_and_disjoint():
    ds = load_dataset("digits")
    assert len(ds.train_x) == 1500 and len(ds.val_x) == 297
    rows = {tuple(r) for r in ds.train_x.flatten(1).numpy().round(4).tolist()}
    shared = sum(tuple(r) in rows for r in ds.val_x.flatten(1).numpy().round(4).tolist())
    assert shared < 5  # a few digits are pixel-identical duplicates in the source data
    x1, _ = heldout(ds, 100)
    x2, _ = heldout(load_dataset("digits"), 100)
    assert torch.equal(x1, x2)


def test_batches_are_seeded_and_shifted_for_text():
    kjv = load_dataset("kjv")
    a, b = Batches(kjv, 4, seed=3, context=16), Batches(kjv, 4, seed=3, context=16)
    xa, ya = a.next()
    xb, yb = b.next()
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert xa.shape == (4, 16) and torch.equal(xa[:, 1:], ya[:, :-1])
    ds = load_dataset("digits")
    batches = Batches(ds, 100, seed=0)
    seen = torch.cat([batches.next()[1] for _ in range(15)])  # one epoch, no repeats
    assert len(seen) == 1500


def test_kjv_news_is_an_iid_block_split_of_both_corpora():
    ds = load_dataset("kjv-news")
    kjv, news = load_dataset("kjv"), load_dataset("news")
    total = len(kjv.train) + len(kjv.val) + len(news.train) + len(news.val) + 1
    assert len(ds.train) + len(ds.val) == total
    assert 0.099 < len(ds.val) / total < 0.101
    val = bytes(ds.val.numpy())
    # held-out blocks come from both corpora, from anywhere in them (not just the end)
    assert b"LORD" in val and b"Trump" in val
    assert b"Genesis" in bytes(ds.train[:4096].numpy()) or b"Genesis" in val[:4096]
    blocks = ds.val[: len(ds.val) // 4096 * 4096].reshape(-1, 4096)
    train = bytes(ds.train.numpy())
    assert all(bytes(b[:64].numpy()) not in train for b in blocks[::50])


def test_fresh_batches_never_repeat_a_window_within_an_epoch():
    from convexlaw.train.data import TextData

    text = torch.randint(0, 256, (16 * 100 + 1,), generator=torch.Generator().manual_seed(2),
                         dtype=torch.uint8)  # random bytes: every window's content is unique
    ds = TextData("random", train=text, val=text[:200])
    b = Batches(ds, 7, seed=5, context=16, sampling="fresh")
    assert b.size == len(b.windows) == 100
    drawn = []
    for _ in range(14):  # 98 of the 100 windows: one epoch, the partial batch dropped
        x, y = b.next()
        assert torch.equal(x[:, 1:], y[:, :-1])
        drawn += [bytes(w) for w in torch.cat([x, y[:, -1:]], 1).to(torch.uint8).numpy()]
    tiles = {bytes(text[16 * i:16 * i + 17].numpy()) for i in range(100)}
    assert len(set(drawn)) == len(drawn) == 98 and set(drawn) <= tiles
    assert b.epochs == pytest.approx(0.98)
    b.next()  # a new epoch: a new permutation
    assert b.epochs == pytest.approx(1.05)
    # consecutive windows share exactly one byte, so every byte is a target once
    assert b.windows[1, 0] == b.windows[0, -1]
    r = Batches(ds, 7, seed=5, context=16, sampling="random")
    assert len(r.windows) == len(text) - 16
    with pytest.raises(ValueError, match="unknown sampling 'iid'"):
        Batches(ds, 4, seed=0, sampling="iid")


def test_fresh_run_reports_its_regime():
    run = train(TrainConfig(model="gpt", size=16, dataset="kjv-news", optimizer="muon-nsgd",
                            schedule="cosine", peak=0.05, steps=20, eval_every=10,
                            eval_size=8))
    assert run.tags["sampling"] == "fresh" and run.tags["fresh_data"] is True
    ds = load_dataset("kjv-news")
    assert run.tags["epochs"] == pytest.approx(20 * 16 / ((len(ds.train) - 1) // 64))
    rnd = TrainConfig(model="gpt", size=16, dataset="kjv", sampling="random")
    assert rnd.run_id() != TrainConfig(model="gpt", size=16, dataset="kjv").run_id()
    with pytest.raises(ValueError, match="sampling 'random' does not fit model 'mlp'"):
        TrainConfig(model="mlp", dataset="digits", sampling="random").normalised()
    with pytest.raises(ValueError, match="unknown sampling 'iid'; expected one of fresh"):
        TrainConfig(model="gpt", dataset="kjv", sampling="iid").normalised()


# ---------------------------------------------------------------- models
@pytest.mark.parametrize("name,small,large,kw", [
    ("mlp", 8, 1024, {}),
    ("cnn", 4, 64, {}),
    ("gpt", 16, 256, {}),
])
def test_one_size_knob_spans_100x(name, small, large, kw):
    n_small = param_count(build_model(name, small, **kw))
    n_large = param_count(build_model(name, large, **kw))
    assert n_large / n_small >= 100


def test_mlp_parameter_count_closed_form():
    w = 256
    expected = 784 * w + w + w * w + w + w * 10 + 10
    assert param_count(build_model("mlp", w)) == expected


def test_gpt_is_causal():
    torch.manual_seed(0)
    model = build_model("gpt", 32, context=16).eval()
    x = torch.randint(0, 256, (1, 16))
    y = x.clone()
    y[0, 10] = (y[0, 10] + 1) % 256
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.allclose(a[0, :10], b[0, :10], atol=1e-6)
    assert not torch.allclose(a[0, 10:], b[0, 10:])


# ---------------------------------------------------------------- Muon
def test_newton_schulz_converges_to_polar_factor():
    g = torch.randn(48, 20, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    for m in (g, g.T):  # tall and wide
        polar = u @ vh if m is g else (u @ vh).T
        out = newton_schulz(m, steps=40, coefficients=(1.5, -0.5, 0.0))
        assert out.dtype == torch.float64
        assert torch.allclose(out, polar, atol=1e-8)


def test_newton_schulz_quintic_flattens_the_spectrum():
    # singular values spread over 2 decades: 5 quintic steps (slope 3.4445 at 0) put them
    # all in Jordan's band ~(0.7, 1.2); over 3 decades the smallest need 3 more steps
    gen = torch.Generator().manual_seed(1)
    q1, _ = torch.linalg.qr(torch.randn(64, 64, generator=gen))
    q2, _ = torch.linalg.qr(torch.randn(32, 32, generator=gen))
    polar = q1[:, :32] @ q2.T
    for decades, steps in ((2, 5), (3, 8)):
        g = q1[:, :32] @ torch.diag(torch.logspace(0, -decades, 32)) @ q2.T
        out = newton_schulz(g, steps=steps)
        sv = torch.linalg.svdvals(out)
        assert sv.min() > 0.65 and sv.max() < 1.2
        # the singular vectors are those of the polar factor: only the scale is approximate
        cos = (out * polar).sum() / (out.norm() * polar.norm())
        assert cos > 0.98
    g = q1[:, :32] @ torch.diag(torch.logspace(0, -3, 32)) @ q2.T
    assert torch.linalg.svdvals(newton_schulz(g, steps=5)).min() < 0.4


def test_own_muon_matches_torch_muon():
    if not hasattr(torch.optim, "Muon"):
        pytest.skip("this torch has no torch.optim.Muon to compare with")
    torch.manual_seed(0)
    w0 = torch.randn(30, 50)
    grads = [torch.randn(30, 50) for _ in range(3)]
    a, b = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(w0.clone())
    ours = Muon([a], lr=0.01, momentum=0.9, weight_decay=0.1)
    ref = torch.optim.Muon([b], lr=0.01, momentum=0.9, weight_decay=0.1,
                           adjust_lr_fn="match_rms_adamw")
    for g in grads:
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    da, db = (a - w0).detach(), (b - w0).detach()
    # torch orthogonalises in bfloat16, we in float32: same step up to bf16 rounding
    assert torch.allclose(da, db, rtol=0, atol=0.02 * db.abs().max())
    assert torch.nn.functional.cosine_similarity(da.flatten(), db.flatten(), dim=0) > 0.999


def test_muon_splits_hidden_from_the_rest():
    model = build_model("gpt", 32, depth=1)
    hidden, rest = split_params(model)
    ids = {id(p) for p in hidden}
    assert id(model.tok.weight) not in ids and id(model.pos.weight) not in ids
    assert all(p.ndim == 2 for p in hidden) and any(p.ndim == 1 for p in rest)
    opts, impl = build_optimizers("muon", build_model("cnn", 8), 0.01)
    assert impl == "convexlaw.Muon+adamw"  # conv kernels: our implementation flattens them
    opts, impl = build_optimizers("muon", model, 0.01)
    assert len(opts) == 2 and impl.endswith("+adamw")


def _nesterov(grads, mu):
    """The Nesterov momentum of the last gradient, written out: b_t = μ b + (1-μ) g_t."""
    b = torch.zeros_like(grads[0])
    for g in grads:
        b = mu * b + (1 - mu) * g
    return (1 - mu) * grads[-1] + mu * b


def test_muon_nsgd_update_is_polar_factor_on_matrices_and_unit_step_elsewhere():
    gen = torch.Generator().manual_seed(3)
    w0 = {"wide": torch.randn(20, 50, generator=gen, dtype=torch.float64),
          "tall": torch.randn(60, 12, generator=gen, dtype=torch.float64),
          "conv": torch.randn(8, 3, 3, 3, generator=gen, dtype=torch.float64),
          "bias": torch.randn(50, generator=gen, dtype=torch.float64)}
    grads = {k: [torch.randn(v.shape, generator=gen, dtype=torch.float64) for _ in range(3)]
             for k, v in w0.items()}
    params = {k: torch.nn.Parameter(v.clone()) for k, v in w0.items()}
    lr, mu = 0.03, 0.9
    opt = MuonNSGD(params.values(), lr=lr, momentum=mu)
    for i in range(3):
        for k, p in params.items():
            p.grad = grads[k][i].clone()
        opt.step()
        for k, p in params.items():
            w0[k] = p.detach().clone() if i < 2 else w0[k]
    for k, p in params.items():
        step = (w0[k] - p.detach()) / lr  # the last update, per unit LR
        m = _nesterov(grads[k], mu)
        if k == "bias":
            # normalised SGD: the step is the momentum direction, with norm exactly 1
            assert step.norm().item() == pytest.approx(1.0, abs=1e-12)
            assert torch.allclose(step, m / m.norm(), atol=1e-12)
            continue
        m2 = m.reshape(m.shape[0], -1)
        u, s, vh = torch.linalg.svd(m2, full_matrices=False)
        polar = u @ vh
        scale = max(1.0, m2.shape[0] / m2.shape[1]) ** 0.5
        got = step.reshape(m2.shape) / scale
        # same singular vectors as the SVD's polar factor; singular values in the
        # quintic Newton–Schulz band (Jordan: ~0.7 … 1.2) instead of exactly 1
        sv_in_polar_basis = u.T @ got @ vh.T
        off = sv_in_polar_basis - torch.diag(torch.diagonal(sv_in_polar_basis))
        assert off.abs().max() < 1e-9
        d = torch.diagonal(sv_in_polar_basis)
        assert d.min() > 0.6 and d.max() < 1.25
        cos = (got * polar).sum() / (got.norm() * polar.norm())
        assert cos > 0.97
        # and exactly the polar factor once Newton–Schulz is run to convergence
        exact = newton_schulz(m2, steps=60, coefficients=(1.5, -0.5, 0.0))
        assert torch.allclose(exact, polar, atol=1e-9)


def test_muon_nsgd_is_one_optimizer_one_lr_for_every_parameter():
    model = build_model("gpt", 32, depth=1)
    opts, impl = build_optimizers("muon-nsgd", model, 0.05)
    assert impl == "convexlaw.MuonNSGD" and len(opts) == 1
    group = opts[0].param_groups[0]
    assert group["lr"] == 0.05 and len(group["params"]) == len(list(model.parameters()))
    run = train(TrainConfig(model="mlp", size=16, dataset="digits", optimizer="muon-nsgd",
                            schedule="cosine", peak=0.05, steps=30, eval_every=15))
    np.testing.assert_array_equal(run.lrs, convexlaw.schedule("cosine", 30, 0.05))
    assert run.tags["optimizer_impl"] == "convexlaw.MuonNSGD"
    assert run.curves["val"][1][-1] < 0.8 * run.tags["initial_val"]


# ---------------------------------------------------------------- configs
@pytest.mark.parametrize("kw,msg", [
    ({"model": "rnn"}, "unknown model 'rnn'"),
    ({"optimizer": "lion"}, "unknown optimizer 'lion'"),
    ({"peak": -0.1}, "peak learning rate must be a finite number > 0, got -0.1"),
    ({"peak": float("nan")}, "peak learning rate"),
    ({"steps": 0}, "steps must be a positive integer, got 0"),
    ({"model": "gpt", "dataset": "digits"}, "dataset 'digits' does not fit model 'gpt'"),
    ({"schedule": "cosine(final=0.1"}, "cosine"),
    ({"schedule": "nosuchshape"}, "nosuchshape"),
])
def test_config_errors_name_the_bad_value(kw, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**{"dataset": "digits", **kw}).normalised()


def test_run_id_is_a_stable_hash_of_the_config():
    a = TrainConfig(model="mlp", size=64, dataset="digits", steps=100)
    assert a.run_id() == TrainConfig(model="mlp", size=64, dataset="digits", steps=100,
                                     batch_size=128).run_id()  # defaults filled in
    assert a.run_id() != TrainConfig(model="mlp", size=64, dataset="digits", steps=100,
                                     seed=1).run_id()
    with pytest.raises(ValueError, match=r"unknown run setting\(s\) \['lr'\]"):
        TrainConfig.from_dict({"lr": 0.1})


# ---------------------------------------------------------------- the loop
@pytest.mark.skipif(not HAS_FASHION, reason="Debian dataset-fashion-mnist not installed")
def test_mlp_on_fashion_mnist_learns():
    run = train(TrainConfig(model="mlp", size=64, dataset="fashion-mnist", optimizer="sgd",
                            schedule="cosine", peak=0.1, steps=300, eval_every=50))
    run.validate()
    steps, val = run.curves["val"]
    assert steps.tolist() == [50, 100, 150, 200, 250, 300]
    assert run.tags["initial_val"] > 2.2  # ~ln 10 before training
    assert val[-1] < 0.75  # well-trained Fashion-MNIST MLPs reach ~0.4; chance is 2.30
    assert val[-1] < val[0] < run.tags["initial_val"]
    tr = run.curves["train"][1]
    assert len(tr) == 300 and tr[-50:].mean() < 0.5 * tr[:10].mean()
    assert run.N == param_count(build_model("mlp", 64))
    assert run.tags["samples_seen"] == 300 * 128 and run.tags["dataset"] == "fashion-mnist"
    assert set(run.tags["versions"]) >= {"torch", "convexlaw", "python"}
    assert run.curves["grad_norm"][0].tolist() == steps.tolist()
    assert np.all(run.curves["grad_norm"][1] > 0)


def test_same_seed_same_curve_other_seed_other_curve():
    cfg = TrainConfig(model="mlp", size=32, dataset="digits", optimizer="adamw",
                      schedule="linear+warmup(10)", peak=3e-3, steps=80, eval_every=20)
    a, b = train(cfg), train(cfg)
    for kind in ("train", "val", "grad_norm"):
        assert np.array_equal(a.curves[kind][1], b.curves[kind][1])
    assert a.id == b.id == cfg.run_id()
    c = train(TrainConfig(**{**cfg.__dict__, "seed": 1}))
    assert not np.array_equal(a.curves["train"][1], c.curves["train"][1])


@pytest.mark.parametrize("optimizer,spec,peak", [
    ("sgd", "wsd(cooldown=0.3,shape=sqrt)+warmup(15)", 0.05),
    ("muon", "cosine(final=0.1)+warmup(0.1,start=0.01,shape=cosine)", 0.01),
])
def test_logged_lrs_are_the_schedule(optimizer, spec, peak):
    cfg = TrainConfig(model="mlp", size=32, dataset="digits", optimizer=optimizer,
                      schedule=spec, peak=peak, steps=60, eval_every=30)
    run = train(cfg)
    assert run.status == "finished"
    np.testing.assert_array_equal(run.lrs, convexlaw.schedule(spec, 60, peak))
    assert run.lrs[0] < run.lrs[20]  # the warm-up really happened


def test_absurd_peak_is_stored_as_diverged(tmp_path):
    run = train(TrainConfig(model="mlp", size=32, dataset="digits", optimizer="sgd",
                            schedule="constant", peak=1e4, steps=200, eval_every=10))
    assert run.status == "diverged"
    t = run.tags["diverged_at"]
    steps, loss = run.curves["train"]
    assert 1 <= t < 200 and steps[-1] == t and len(loss) == t
    assert not (loss[-1] <= 100 * loss[0])  # the point that blew up is kept
    assert np.isfinite(loss[:-1]).all()
    assert run.T == 200  # the planned schedule stays whole
    store = RunStore(tmp_path / "runs.db")
    store.put(run.validate())
    back = store.get(run.id)
    assert back.status == "diverged"
    np.testing.assert_array_equal(back.curves["train"][1], loss)


def test_collapsed_run_is_flagged_against_the_constant_predictor():
    cfg = TrainConfig(model="mlp", size=32, dataset="digits", schedule="constant",
                      peak=2.0, steps=200, eval_every=50)
    dead, good = train(cfg), train(TrainConfig(**{**cfg.__dict__, "peak": 0.1}))
    ds = load_dataset("digits")
    prior = np.bincount(ds.train_y.numpy(), minlength=10) + 1.0
    expected = -np.log(prior / prior.sum())[ds.val_y.numpy()].mean()
    assert dead.tags["constant_loss"] == pytest.approx(expected, rel=1e-12)
    # finite all the way, so not "diverged"; but no better than predicting label frequencies
    assert dead.status == "finished" and dead.tags["beats_constant"] is False
    assert dead.curves["val"][1][-1] >= expected - 0.02
    assert good.tags["beats_constant"] is True and good.curves["val"][1][-1] < 0.5


@pytest.mark.parametrize("model,dataset,optimizer,peak,size", [
    ("cnn", "digits", "sgd", 0.05, 8),
    ("gpt", "kjv", "adamw", 3e-3, 32),
    ("gpt", "news", "muon", 3e-3, 32),
])
def test_other_models_learn(model, dataset, optimizer, peak, size):
    run = train(TrainConfig(model=model, size=size, dataset=dataset, optimizer=optimizer,
                            schedule="cosine+warmup(10)", peak=peak, steps=150, eval_every=50))
    assert isinstance(run, Run) and run.status == "finished"
    val = run.curves["val"][1]
    assert val[-1] < 0.8 * run.tags["initial_val"]
    if model == "gpt":
        assert math.isclose(run.tags["initial_val"], math.log(256), rel_tol=0.02)
        assert run.tags["tokens_seen"] == 150 * 16 * 64


def test_core_and_cli_import_without_torch():
    code = ("import sys, convexlaw, convexlaw.cli; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
