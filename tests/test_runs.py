"""Run records, the SQLite run store, importers and the `convexlaw runs` CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from convexlaw.runs import (
    Run,
    RunImportError,
    RunImportWarning,
    RunNotFoundError,
    RunStore,
    RunStoreError,
    import_files,
    load_runs,
)
from convexlaw.runs.presets import max_rel_err

DATA = Path("/work/shared/data")
MPL = sorted((DATA / "mpl-25m").glob("*.csv"))
W124 = sorted((DATA / "lr-scheduling-124m").glob("*.json"))
FIXTURES = Path(__file__).parent / "data" / "runs"
needs_data = pytest.mark.skipif(len(MPL) != 9 or len(W124) != 14,
                                reason="shared published curves not available")


def make_run(i: int = 0, T: int = 100, name: str | None = None, **kw) -> Run:
    rng = np.random.default_rng(i)
    lrs = 0.1 * (1 - np.arange(T) / T)
    steps = np.arange(5, T + 1, 5)
    loss = 3 + 1 / np.sqrt(steps) + 0.01 * rng.standard_normal(steps.size)
    return Run(name=name or f"run{i}", lrs=lrs, curves={"train": (steps, loss)}, peak_lr=0.1,
               schedule="linear", **kw)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


# ---------------------------------------------------------------- Run record
def test_run_basics_and_curve_choice():
    run = Run("r", lrs=[0.1, 0.2, 0.2, 0.1], curves={"train": ([1, 2, 4], [3, 2.5, 2.2]),
                                                     "val": ([2, 4], [2.9, 2.4])})
    assert run.T == 4 and run.lrs.dtype == np.float64
    assert run.curves["train"][0].dtype == np.int64
    assert run.curve()[1].tolist() == [2.9, 2.4]          # val preferred
    assert run.curve("train")[0].tolist() == [1, 2, 4]
    with pytest.raises(KeyError, match="no curve 'grad_norm'; kinds: train, val"):
        run.curve("grad_norm")
    assert len(run.id) == 16 and run.id == run.content_id()
    assert Run("r", lrs=[0.1, 0.2, 0.2, 0.1], curves=dict(run.curves)).id == run.id
    assert run.validate() is run
    tagged = Run("t", lrs=[1.0], curves={"train": ([1], [2.0])},
                 tags={"w": np.float32(0.5), "dims": (np.int64(3), 4), "a": np.arange(2)})
    assert tagged.tags == {"w": 0.5, "dims": [3, 4], "a": [0, 1]}
    json.dumps(tagged.validate().to_dict(), allow_nan=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lrs=[0.1, np.nan, 0.1]), r"lrs\[1\] \(update 2\) is nan; expected finite learning "
                                   r"rates >= 0"),
    (dict(lrs=[0.1, -0.1, 0.1]), r"lrs\[1\] \(update 2\) is -0.1"),
    (dict(lrs=[0.0, 0.0, 0.0]), "all 3 learning rates are zero"),
    (dict(lrs=[]), "non-empty 1-D array"),
    (dict(curves={"train": ([1, 2], [1.0])}), "2 steps but 1 values; expected equal lengths"),
    (dict(curves={"train": ([1, 3, 2], [1.0, 1, 1])}),
     "step 2 at index 2 follows step 3; expected strictly increasing steps"),
    (dict(curves={"train": ([1, 1], [1.0, 1])}), "step 1 at index 1 follows step 1"),
    (dict(curves={"train": ([0, 1], [1.0, 1])}), r"step 0 at index 0 is outside 1..T = 1..3"),
    (dict(curves={"train": ([1, 4], [1.0, 1])}), r"step 4 at index 1 is outside 1..T = 1..3"),
    (dict(curves={"train": ([1, 2], [1.0, np.inf])}),
     "value inf at step 2 is not finite; expected finite losses"),
    (dict(curves={}), "no curves; expected at least a 'train' or 'val' curve"),
    (dict(status="done"), "status 'done' is not one of finished, diverged, running"),
    (dict(peak_lr=0.05), r"lrs\[0\] = 0.1 exceeds peak_lr = 0.05"),
    (dict(peak_lr=-1.0), "peak_lr is -1.0; expected a finite number > 0"),
    (dict(warmup=5), "warmup = 5 exceeds T = 3"),
    (dict(N=float("nan")), "N is nan; expected a finite parameter count > 0"),
    (dict(tags={"x": float("nan")}), "tags must be JSON-serialisable"),
    (dict(name=""), "run name must be a non-empty string"),
])
def test_validate_messages(kwargs, message):
    base = dict(name="bad", lrs=[0.1, 0.1, 0.1], curves={"train": ([1, 3], [2.0, 1.5])})
    base.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Run(**base).validate()


def test_diverged_run_keeps_nan_curve_and_round_trips_json():
    run = Run("blowup", lrs=[1.0] * 5, curves={"train": ([1, 2, 3, 4], [2.0, 5.0, np.inf,
                                                                         np.nan])},
              status="diverged", tags={"note": "lr too high"})
    run.validate()
    assert run.finite_curve()[1].tolist() == [2.0, 5.0]
    assert run.final_loss() == 5.0
    text = json.dumps(run.to_dict(), allow_nan=False)   # strictly valid JSON
    back = Run.from_dict(json.loads(text))
    assert back == run and np.isinf(back.curves["train"][1][2])
    with pytest.raises(ValueError, match="not finite"):
        Run("x", lrs=[1.0] * 5, curves=run.curves).validate()


def test_from_dict_errors():
    with pytest.raises(ValueError, match="missing field 'lrs'"):
        Run.from_dict({"name": "x"})
    with pytest.raises(ValueError, match="version 9 is newer"):
        Run.from_dict({"name": "x", "lrs": [1.0], "version": 9})
    with pytest.raises(ValueError, match="T = 3 but 1 learning rates"):
        Run.from_dict({"name": "x", "lrs": [1.0], "T": 3})


# ---------------------------------------------------------------- store
@pytest.fixture
def store(tmp_path):
    s = RunStore(tmp_path / "runs.db")
    yield s
    s.close()


def test_store_round_trip_and_replace(store):
    runs = [make_run(i, optimizer="sgd" if i % 2 else "adamw", N=1e6 * (i + 1), seed=i,
                     tags={"size": "s" if i < 2 else "m", "k": i}) for i in range(4)]
    runs.append(make_run(9, name="div", status="diverged"))
    runs[-1].curves["train"][1][-1] = np.nan
    for r in runs:
        assert store.put(r) == r.id
    assert len(store) == 5 and runs[0].id in store and "nope" not in store
    for r in runs:
        assert store.get(r.id) == r
    assert store.get("run2") == runs[2]                  # by unique name
    assert store.get(runs[3].id[:6]) == runs[3]          # by unique id prefix
    assert np.isnan(store.get("div").curves["train"][1][-1])
    changed = make_run(0, T=200)
    changed.id = runs[0].id                               # same id, new content
    store.put(changed)
    assert len(store) == 5 and store.get(runs[0].id).T == 200
    assert store.integrity_check() == "ok"
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    lazy = {r.id: r for r in store.list()}              # curves load on first access
    assert "not loaded" in repr(lazy[runs[1].id].curves)
    assert lazy[runs[1].id] == runs[1] and lazy[runs[1].id].curves.keys() == {"train"}


def test_default_store_path_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEXLAW_DB", str(tmp_path / "env.db"))
    with RunStore() as s:
        s.put(make_run(1))
    assert (tmp_path / "env.db").exists()
    assert load_runs(["run1"]) == [make_run(1)]


def test_store_filters(store):
    for i in range(6):
        store.put(make_run(i, T=100 * (i + 1), optimizer="sgd" if i % 2 else "adamw",
                           N=1e6 * (i + 1), status="running" if i == 5 else "finished",
                           tags={"family": "a" if i < 3 else "b", "width": 64 * i}))
    names = lambda runs: [r.name for r in runs]   # noqa: E731
    assert names(store.list(status="running")) == ["run5"]
    assert names(store.list(optimizer="sgd")) == ["run1", "run3", "run5"]
    assert names(store.list(name="run[12]")) == ["run1", "run2"]
    assert names(store.list(name="run*", T_min=300, T_max=400)) == ["run2", "run3"]
    assert names(store.list(N=3e6)) == ["run2"]
    assert names(store.list(N=[1e6, 2e6])) == ["run0", "run1"]
    assert names(store.list(tags={"family": "b"})) == ["run3", "run4", "run5"]
    assert names(store.list(tags={"family": "b", "width": 256})) == ["run4"]
    assert names(store.list(schedule="lin*", status=["running", "finished"])) == \
        [f"run{i}" for i in range(6)]
    assert store.list(name="zzz*") == []
    rows = store.summaries(optimizer="adamw")
    assert [r["n_points"] for r in rows] == [20, 60, 100]
    assert rows[0]["final_loss"] == pytest.approx(store.get("run0").curves["train"][1][-1])
    with pytest.raises(ValueError, match="unknown run filter 'colour'; allowed: .*N_max"):
        store.list(colour="red")


def test_store_lookup_errors_and_delete(store):
    a, b = make_run(1, name="same"), make_run(2, name="same")
    store.put(a)
    store.put(b)
    ids = sorted([a.id, b.id])
    with pytest.raises(RunNotFoundError,
                       match=f"'same' matches 2 runs in .*runs.db \\(ids: {ids[0]}, {ids[1]}\\);"
                             " give one of the ids"):
        store.get("same")
    with pytest.raises(KeyError, match=r"no run with id or name 'ghost' in .* \(2 runs stored\)"):
        store.get("ghost")
    store.delete(a.id)
    assert a.id not in store and store.get("same") == b
    with pytest.raises(KeyError, match="no run with id or name"):
        store.delete(a.id)


def test_store_refuses_foreign_and_newer_files(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(RunStoreError, match="junk.db is not a convexlaw run store"):
        RunStore(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE things (x)").connection.commit()
    with pytest.raises(RunStoreError, match=r"not a convexlaw run store \(tables: things\)"):
        RunStore(other)
    newer = tmp_path / "newer.db"
    RunStore(newer).close()
    con = sqlite3.connect(newer)
    con.execute("UPDATE schema_version SET version = 7")
    con.commit()
    con.close()
    with pytest.raises(RunStoreError, match="schema version 7, newer than this convexlaw "
                                            r"supports \(1\); upgrade convexlaw"):
        RunStore(newer)


def test_store_shared_by_threads(store):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda i: store.put(make_run(i)), range(12)))
    assert sorted(ids) == sorted(store.ids()) and len(store) == 12


def test_put_many_is_all_or_nothing(store):
    good, bad = make_run(1), make_run(2)
    bad.lrs[3] = np.nan
    store.put(make_run(0))
    with pytest.raises(ValueError, match=r"lrs\[3\]"):
        store.put_many([good, bad])
    assert store.ids() == [make_run(0).id]


_WRITER = """
import sys, time
import numpy as np
sys.path.insert(0, {src!r})
from convexlaw.runs import Run, RunStore
from convexlaw.runs.store import _META

def make(i, T):
    steps = np.arange(1, T + 1)
    return Run(f"w{{i}}", lrs=np.full(T, 0.01 * (i + 1)),
               curves={{"train": (steps, 3 + 1 / steps), "val": (steps, 3.1 + 1 / steps)}})

store = RunStore({db!r}, timeout=30)
mode, start, n, T = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(start, start + n):
    store.put(make(i, T))
    print("committed", i, flush=True)
if mode == "hang":
    # a transaction left open mid-write: run row written, curves half written
    row, curves = store._rows(make(999, T))
    with store._transaction() as c:
        c.execute(f"INSERT INTO runs ({{', '.join(_META)}}, lrs, updated) "
                  f"VALUES ({{', '.join('?' * (len(_META) + 1))}}, 0)", row)
        c.execute("INSERT INTO curves VALUES (?, ?, ?, ?, ?)", curves[0])
        print("in-transaction", flush=True)
        time.sleep(60)
"""


def _writer(tmp_path, db, *args):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER.format(src=str(Path(__file__).parents[1] / "src"), db=str(db)))
    return subprocess.Popen([sys.executable, str(script), *map(str, args)],
                            stdout=subprocess.PIPE, text=True)


def _expected(i: int, T: int) -> Run:
    steps = np.arange(1, T + 1)
    return Run(f"w{i}", lrs=np.full(T, 0.01 * (i + 1)),
               curves={"train": (steps, 3 + 1 / steps), "val": (steps, 3.1 + 1 / steps)})


def test_sigkill_mid_transaction_leaves_store_intact(tmp_path):
    db = tmp_path / "k.db"
    proc = _writer(tmp_path, db, "hang", 0, 3, 1000)
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith("in-transaction"):
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lines == ["committed 0", "committed 1", "committed 2", "in-transaction"]
    store = RunStore(db)
    assert store.integrity_check() == "ok"
    assert sorted(r.name for r in store.list()) == ["w0", "w1", "w2"]   # no half-written w999
    for i in range(3):
        assert store.get(f"w{i}") == _expected(i, 1000)


def test_sigkill_at_random_time_during_big_writes(tmp_path):
    db = tmp_path / "k.db"
    T = 200_000  # ~5 MB per run: each commit takes a while, so the kill lands mid-write
    proc = _writer(tmp_path, db, "loop", 0, 1000, T)
    committed = []
    for line in proc.stdout:
        committed.append(int(line.split()[1]))
        if len(committed) == 3:
            break
    time.sleep(0.013)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = RunStore(db)
    assert store.integrity_check() == "ok"
    names = [r.name for r in store.list()]
    assert len(names) == len(set(names))
    for i in committed:                    # every reported commit survived, exactly once
        assert names.count(f"w{i}") == 1
    for name in names:                     # anything stored is complete
        i = int(name[1:])
        assert store.get(name) == _expected(i, T)
    store.put(make_run(0))                 # and the store still takes writes
    assert len(store) == len(names) + 1


def test_concurrent_writers(tmp_path):
    db = tmp_path / "c.db"
    procs = [_writer(tmp_path, db, "loop", 100 * k, 15, 2000) for k in range(3)]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0 and out.count("committed") == 15
    store = RunStore(db)
    assert len(store) == 45 and store.integrity_check() == "ok"


# ---------------------------------------------------------------- published curves
@needs_data
@pytest.mark.parametrize("path", MPL, ids=lambda p: p.stem)
def test_import_mpl25m(path):
    run, = load_runs([path])
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    src = run.tags["source"]
    assert src["lr"] == "preset mpl-25m" and src["lr_checked_values"] == len(rows)
    assert src["lr_check_max_rel_err"] <= 1e-9
    # the logged lr at step t is the LR after t updates: lrs[t] (next-update convention)
    assert max_rel_err(run.lrs[rows[:, 0].astype(int)], rows[:, 1]) <= 1e-9
    assert run.curves["train"][0].tolist() == rows[:, 0].astype(int).tolist()
    assert run.curves["train"][1].tolist() == rows[:, 2].tolist()
    assert run.peak_lr == 3e-4 and run.warmup == 2160 and run.lrs[0] == 0
    assert run.lrs[2160] == pytest.approx(3e-4, rel=1e-12)
    assert run.T == (16000 if path.stem.startswith("wsdcon") else int(path.stem.split("_")[-1]))
    # the recorded spec reproduces the per-step LRs through convexlaw.schedule
    assert src["spec_max_rel_err"] is not None and src["spec_max_rel_err"] <= 1e-12


@needs_data
@pytest.mark.parametrize("path", W124, ids=lambda p: p.stem[:40] + p.stem[-45:-30])
def test_import_124m_wandb(path):
    run, = load_runs([path])
    d = json.loads(path.read_text())
    cfg, hist = d["config"], d["history"]
    src = run.tags["source"]
    assert run.T == cfg["iterations"] and run.peak_lr == cfg["lr"] and run.warmup == 300
    assert src["lr_check_max_rel_err"] <= 1e-9
    assert src["lr_checked_values"] == len(hist["train"]["iter"])
    it = np.array(hist["train"]["iter"])
    assert max_rel_err(np.append(run.lrs, 0)[np.minimum(it, run.T)][it < run.T],
                       np.array(hist["train"]["train_lr"])[it < run.T]) <= 1e-9
    vs, vv = run.curves["val"]
    assert vs.tolist() == sorted(set(hist["val"]["iter"]) - {0})   # duplicates averaged
    last = vs[-1]
    expect = np.mean([v for i, v in zip(hist["val"]["iter"], hist["val"]["val_loss"],
                                        strict=True) if i == last])
    assert vv[-1] == pytest.approx(expect, rel=1e-12)
    assert vv[-1] != d["summary"]["final-val/loss"]                  # not mixed in
    assert run.tags["final_val_loss_other_eval_set"] == d["summary"]["final-val/loss"]
    assert run.tags["initial_val"] > 10
    assert run.N == 123587328 and run.batch_size == 100 and run.optimizer == "adamw"
    assert run.seed == 0 and run.tags["n_layer"] == 12 and run.status == "finished"
    if cfg["scheduler"] == "wsd":
        assert run.schedule == "constant+warmup(300,start=0.01)"
        assert src["spec_max_rel_err"] <= 1e-12
    else:
        # OneCycle's warm-up ends at step W-1 and its cosine at T-1: the spec grammar's
        # warmup/cosine differ by < 1 % (recorded); lrs are the exact rebuild
        assert 1e-4 < src["spec_max_rel_err"] < 0.01
        assert run.schedule.startswith("cosine(final=")


@needs_data
def test_duplicates_in_resumed_run_are_averaged():
    path = next(p for p in W124 if "cos-zero" in p.name and "lr0.0001_" in p.name)
    d = json.loads(path.read_text())
    it, vl = d["history"]["val"]["iter"], d["history"]["val"]["val_loss"]
    dup = next(i for i in it if it.count(i) > 1 and i > 0)
    run, = load_runs([path])
    s, v = run.curves["val"]
    assert it.count(dup) >= 2
    assert v[s.tolist().index(dup)] == pytest.approx(np.mean([x for i, x in zip(
        it, vl, strict=True) if i == dup]), rel=1e-12)
    assert run.tags["source"]["val_duplicates_averaged"] == len(it) - len(set(it))


# ---------------------------------------------------------------- generic importers
def test_csv_lr_every_step_with_extras(tmp_path):
    p = write(tmp_path / "mine.csv", """
        step,lr,loss,val_loss,grad_norm
        0,0.0,9.0,9.5,
        1,0.1,4.0,,1.5
        2,0.2,3.0,3.2,1.4
        3,0.2,2.5,,1.2
        4,0.1,2.4,2.45,1.1
        """)
    run, = load_runs([p])
    assert run.lrs.tolist() == [0.1, 0.2, 0.2, 0.1]          # current convention
    assert run.curves["val"][0].tolist() == [2, 4]
    assert run.curves["grad_norm"][1].tolist() == [1.5, 1.4, 1.2, 1.1]
    assert run.tags["initial_train"] == 9.0 and run.tags["initial_val"] == 9.5
    assert run.tags["source"]["lr"] == "logged every step" and run.peak_lr == 0.2
    nxt, = load_runs([p], lr_logged="next")                  # lr at step t is update t+1's
    assert nxt.lrs.tolist() == [0.0, 0.1, 0.2, 0.2]


def test_csv_sparse_lr_is_interpolated_with_warning(tmp_path):
    p = write(tmp_path / "sparse.tsv", "step\tlr\tloss\n1\t0.1\t5\n5\t0.5\t4\n10\t0.5\t3\n")
    with pytest.warns(RunImportWarning, match=r"lr logged at 3 of 10 steps; per-step learning "
                                              "rates interpolated linearly"):
        run, = load_runs([p])
    assert run.lrs.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert run.tags["source"]["format"] == "tsv"


def test_csv_with_schedule_spec_checked(tmp_path):
    import convexlaw

    lrs = convexlaw.schedule("cosine+warmup(10)", 100, 0.01)
    lines = ["step,lr,loss"] + [f"{t},{float(lrs[t - 1])!r},{3 + 1 / t}"
                                for t in range(10, 101, 10)]
    p = write(tmp_path / "cos.csv", "\n".join(lines) + "\n")
    run, = load_runs([p], schedule="cosine+warmup(10)", steps=100, peak=0.01)
    assert np.array_equal(run.lrs, lrs) and run.schedule == "cosine+warmup(10)"
    assert run.tags["source"]["lr_check_max_rel_err"] <= 1e-15
    with pytest.raises(RunImportError, match=r"cos.csv: the rebuilt learning rates do not match "
                       r"the logged ones: max relative error 0\.\d+ at line \d+ \(logged .*, "
                       r"rebuilt .*\) over 10 logged values; expected <= 1e-09\. Schedule: "
                       r"'linear\+warmup\(10\)'"):
        load_runs([p], schedule="linear+warmup(10)", steps=100, peak=0.01)


def test_jsonl_rows_and_run_dicts(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps({"step": s, "lr": 0.1, "loss": 5 - s / 10,
                                          "tokens": 1000 * s}) for s in range(1, 6)))
    run, = load_runs([rows])
    assert run.T == 5 and run.curves["tokens"][1][-1] == 5000
    dicts = tmp_path / "runs.jsonl"
    a, b = make_run(1), make_run(2, status="running")
    dicts.write_text(json.dumps(a.to_dict()) + "\n" + json.dumps(b.to_dict()) + "\n")
    assert load_runs([dicts]) == [a, b]
    one = tmp_path / "one.json"
    one.write_text(json.dumps(a.to_dict()))
    assert load_runs(one) == [a]


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "r.parquet"
    pq.write_table(pa.table({"step": [1, 2, 3, 4], "lr": [0.1, 0.1, 0.05, 0.0],
                             "loss": [3.0, 2.0, None, 1.5]}), p)
    run, = load_runs([p])
    assert run.lrs.tolist() == [0.1, 0.1, 0.05, 0.0]
    assert run.curves["train"][0].tolist() == [1, 2, 4]
    assert run.tags["source"]["format"] == "parquet"


def _tb_file(folder: Path, scalars: dict[str, list[tuple[int, float]]]) -> Path:
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    w = EventFileWriter(str(folder))
    for tag, pts in scalars.items():
        for step, value in pts:
            w.add_event(event_pb2.Event(step=step, wall_time=1.0, summary=summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])))
    w.close()
    return folder


def test_tensorboard(tmp_path):
    folder = _tb_file(tmp_path / "exp1", {
        "train/loss": [(s, 4.0 - 0.25 * s) for s in range(1, 9)],
        "val/loss": [(4, 3.25), (8, 2.25)],
        "learning_rate": [(s, 0.5) for s in range(1, 9)],
        "Weird/LR": [(s, 0.25) for s in range(1, 9)]})
    run, = load_runs([folder])
    assert run.name == "exp1" and run.T == 8 and run.lrs.tolist() == [0.5] * 8
    assert run.curves["val"][1].tolist() == [3.25, 2.25]
    run2, = load_runs([folder], lr_tag="Weird/LR", loss_tag="val/loss")
    assert run2.lrs.tolist() == [0.25] * 8 and run2.curves.keys() == {"train"}
    assert run2.curves["train"][1].tolist() == [3.25, 2.25]   # the given tag is the loss
    with pytest.raises(RunImportError, match="no scalar tag 'nope' for the learning rate; "
                                             "tags: Weird/LR, learning_rate, train/loss"):
        load_runs([folder], lr_tag="nope")
    bare = _tb_file(tmp_path / "exp2", {"accuracy": [(1, 0.5)]})
    with pytest.raises(RunImportError, match="no loss tag among accuracy; expected one of loss"):
        load_runs([bare])


# ---------------------------------------------------------------- malformed input
@pytest.mark.parametrize("name, text, message", [
    ("empty.csv", "", "empty.csv: empty file; expected a header row such as 'step,lr,loss'"),
    ("blank.csv", "\n\n", "blank.csv: empty file; expected a header row"),
    ("header.csv", "step,lr,loss\n", "header.csv: header 'step,lr,loss' but no data rows"),
    ("nostep.csv", "lr,loss\n0.1,3\n", "nostep.csv: missing column 'step'; expected a header "
                                      "with step, lr, loss \\(found: lr, loss\\)"),
    ("noloss.csv", "step,lr\n1,0.1\n", "noloss.csv: missing column 'loss'"),
    ("nolr.csv", "step,loss\n1,3\n", "nolr.csv: missing column 'lr' .*--schedule SPEC --steps T "
                                    "--peak P"),
    ("text.csv", "step,lr,loss\n1,0.1,3\n2,0.1,abc\n", "text.csv: line 3, column 'loss': 'abc' "
                                                       "is not a number; expected a number"),
    ("nanlr.csv", "step,lr,loss\n1,0.1,3\n2,nan,2\n", "nanlr.csv: line 3, column 'lr': 'nan' is "
                                                      "not a learning rate; expected a finite "
                                                      "number >= 0"),
    ("neglr.csv", "step,lr,loss\n1,-0.1,3\n", "line 2, column 'lr': '-0.1' is not a learning "
                                              "rate"),
    ("zerolr.csv", "step,lr,loss\n1,0,3\n2,0,2\n", "all logged learning rates are zero"),
    ("order.csv", "step,lr,loss\n1,0.1,3\n5,0.1,2\n5,0.1,1\n", "order.csv: line 4: step 5 does "
                  "not follow step 5 \\(line 3\\); expected strictly increasing steps"),
    ("fracstep.csv", "step,lr,loss\n1.5,0.1,3\n", "line 2, column 'step': '1.5' is not a step; "
                                                  "expected an integer >= 0"),
    ("nanloss.csv", "step,lr,loss\n1,0.1,3\n2,0.1,nan\n", "nanloss.csv: line 3, column 'loss': "
                    "'nan' is not a finite loss; expected finite losses \\(import it with "
                    "status='diverged' / --diverged"),
    ("ragged.csv", "step,lr,loss\n1,0.1\n", "ragged.csv: line 2: 2 fields, expected 3"),
    ("bad.jsonl", '{"step": 1, "lr": 0.1, "loss": 3}\n{"step": 2, "lr": 0.1, loss: 2}\n',
     "bad.jsonl: line 2: not valid JSON \\(Expecting property name"),
    ("list.jsonl", '[1, 2]\n', "list.jsonl: line 1: expected a JSON object with step, lr, loss"),
    ("what.json", '{"hello": 1}', "what.json: unrecognised JSON \\(hello\\); expected a W&B run "
                                  "export"),
    ("broken.json", '{"config": ', "broken.json: line 1, column 12: not valid JSON"),
    ("empty.json", "  ", "empty.json: empty file"),
])
def test_malformed_files_are_refused_with_clear_messages(tmp_path, name, text, message):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(RunImportError, match=message):
        load_runs([p])


def test_preset_named_file_with_other_data_is_refused(tmp_path):
    p = write(tmp_path / "cosine_3000.csv", "step,lr,loss\n2160,0.0003,4\n4000,0.0003,3\n")
    with pytest.raises(RunImportError, match=r"cosine_3000.csv: line 3: a learning rate is "
                       r"logged beyond the run's 3000 steps"):
        load_runs([p])
    with pytest.raises(RunImportError, match="matches a Multi-Power-Law 25M run; import with "
                                             "preset='none' / --preset none"):
        load_runs([p])
    with pytest.warns(RunImportWarning, match="lr logged at 2 of 4000 steps"):
        run, = load_runs([p], preset="none")
    assert run.T == 4000


def test_nan_loss_kept_when_marked_diverged(tmp_path):
    p = write(tmp_path / "boom.csv", "step,lr,loss\n1,1.0,3\n2,1.0,50\n3,1.0,nan\n")
    run, = load_runs([p], status="diverged")
    assert run.status == "diverged" and np.isnan(run.curves["train"][1][-1])


@needs_data
def test_wandb_with_wrong_schedule_is_refused(tmp_path):
    d = json.loads(W124[0].read_text())
    d["config"]["warmup_steps"] = 200
    p = tmp_path / "wrong.json"
    p.write_text(json.dumps(d))
    with pytest.raises(RunImportError, match=r"wrong.json: the rebuilt learning rates do not "
                       r"match the logged ones: max relative error .* at history.train iter \d+ "
                       r"\(logged .*\) over 500 logged values; expected <= 1e-09\. Schedule: "
                       "OneCycle cosine"):
        load_runs([p])
    d["config"]["scheduler"] = "cos_inf"
    p.write_text(json.dumps(d))
    with pytest.raises(RunImportError, match="scheduler 'cos_inf' is not supported"):
        load_runs([p])
    del d["config"]["iterations"]
    p.write_text(json.dumps(d))
    with pytest.raises(RunImportError, match="config has no 'iterations'"):
        load_runs([p])


def test_multi_file_import_reports_failures_and_keeps_store(tmp_path, store):
    store.put(make_run(7))
    good = write(tmp_path / "good.csv", "step,lr,loss\n1,0.1,3\n2,0.1,2\n")
    bad = write(tmp_path / "bad.csv", "step,lr,loss\n1,0.1,3\n2,x,2\n")
    twice = tmp_path / "two.jsonl"   # second run invalid: the whole file is refused
    broken = make_run(2).to_dict()
    broken["lrs"][0] = "nan"
    twice.write_text(json.dumps(make_run(1).to_dict()) + "\n" + json.dumps(broken) + "\n")
    report = import_files([good, bad, twice], store)
    assert list(report.imported) == [str(good)]
    assert "bad.csv: line 3, column 'lr': 'x' is not a number" in report.failed[str(bad)]
    assert "two.jsonl: line 2: run 'run2': lrs[0] (update 1) is nan" in report.failed[str(twice)]
    assert sorted(r.name for r in store.list()) == ["good", "run7"]
    with pytest.raises(RunImportError, match="2 inputs failed:\n.*bad.csv.*\n.*two.jsonl"):
        load_runs([good, bad, twice])


def test_load_runs_by_key(tmp_path, store):
    r = make_run(3)
    store.put(r)
    assert load_runs([r.id, "run3"], db=store.path) == [r, r]
    with pytest.raises(RunImportError, match="ghost: not a file, and no run with id or name "
                                             "'ghost'"):
        load_runs(["ghost"], db=store.path)
    with pytest.raises(RunImportError, match="ghost: no such file, and no run store at"):
        load_runs(["ghost"], db=tmp_path / "missing.db")


def test_fixture_files_import():
    runs = load_runs(sorted(FIXTURES.glob("*")))
    by = {r.name: r for r in runs}
    assert set(by) == {"generic", "rows"}
    assert by["generic"].curves.keys() == {"train", "val", "grad_norm"}
    assert by["rows"].lrs.tolist() == pytest.approx([0.001 * min(1, t / 4) for t in range(1, 9)])


# ---------------------------------------------------------------- CLI
@pytest.fixture
def cli():
    from typer.testing import CliRunner

    from convexlaw.cli import app

    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, ["runs", *map(str, args)])
    return run


@needs_data
def test_cli_import_list_show_export_delete(tmp_path, cli):
    db = tmp_path / "cli.db"
    r = cli("import", DATA / "mpl-25m", W124[0], "--db", db)
    assert r.exit_code == 0, r.output
    r = cli("list", "--db", db, "--json")
    rows = json.loads(r.stdout)
    assert r.exit_code == 0 and len(rows) == 10
    assert [x["name"] for x in json.loads(cli("list", "--db", db, "--json", "--name",
                                              "wsd*").stdout)] == ["wsd_20000_24000",
                                                                   "wsdcon_18", "wsdcon_3",
                                                                   "wsdcon_9",
                                                                   "wsdld_20000_24000"]
    assert len(json.loads(cli("list", "--db", db, "--json", "--tag",
                              "n_layer=12").stdout)) == 1
    r = cli("list", "--db", db)
    assert r.exit_code == 0 and "cosine_24000" in r.stdout and "wsdld_20000_24000" in r.stdout
    png = tmp_path / "c.png"
    r = cli("show", "cosine_24000", "--db", db, "--json", "--plot", png)
    info = json.loads(r.stdout)
    assert info["T"] == 24000 and info["curves"]["train"]["points"] == 171
    assert png.stat().st_size > 10_000
    r = cli("show", "cosine_24000", "--db", db)
    assert r.exit_code == 0 and "cosine(final=0.1)+warmup(2160)" in r.stdout
    out = tmp_path / "all.jsonl"
    keys = [x["id"] for x in rows]
    assert cli("export", *keys, "--format", "jsonl", "--out", out, "--db", db).exit_code == 0
    store = RunStore(db)
    assert load_runs([out]) == [store.get(k) for k in keys]
    csv_out = tmp_path / "w.csv"
    assert cli("export", "wsdcon_9", "--format", "csv", "--out", csv_out, "--db",
               db).exit_code == 0
    back, = load_runs([csv_out])
    orig = store.get("wsdcon_9")
    assert np.array_equal(back.lrs, orig.lrs)
    assert all(np.array_equal(back.curves["train"][i], orig.curves["train"][i]) for i in (0, 1))
    r = cli("delete", "wsdcon_9", "--db", db)
    assert r.exit_code == 0 and f"deleted {orig.id} (wsdcon_9)" in r.stdout
    assert len(store) == 9


def test_cli_errors_are_one_line_with_exit_2(tmp_path, cli):
    db = tmp_path / "e.db"
    good = write(tmp_path / "ok.csv", "step,lr,loss\n1,0.1,3\n2,0.1,2\n")
    bad = write(tmp_path / "bad.csv", "step,lr,loss\n1,0.1,3\n2,0.1,\n3,-1,2\n")
    r = cli("import", good, bad, "--db", db)
    assert r.exit_code == 2
    assert "bad.csv: line 4, column 'lr': '-1' is not a learning rate; expected a finite number"\
           " >= 0\n" in r.output
    assert "1 of 2 files failed; the others were imported" in r.output
    assert "Traceback" not in r.output
    assert [x["name"] for x in json.loads(cli("list", "--db", db, "--json").stdout)] == ["ok"]
    for args, msg in [
        (("show", "nope", "--db", db), "no run with id or name 'nope'"),
        (("list", "--db", tmp_path / "none.db"), "no run store at"),
        (("list", "--db", db, "--status", "x", "--tag", "oops"), "--tag expects KEY=VALUE"),
        (("export", "ok", "--format", "xml", "--out", tmp_path / "x", "--db", db),
         "--format 'xml'; expected csv or jsonl"),
        (("import", good, "--db", db, "--schedule", "cosine(", "--steps", "2"),
         "cannot read schedule term"),
        (("import", good, bad, "--name", "x", "--db", db), "name='x' given for 2 files"),
    ]:
        r = cli(*args)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.startswith("error: ") and msg in r.output, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1, r.output   # one line, not wrapped
