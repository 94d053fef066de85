"""Interactive figures of a study (plotly): zoom, pan and hover for the exact values.

Each builder returns a ``plotly.graph_objects.Figure``; ``convexlaw.report.html`` embeds
them in one page with plotly's own JavaScript. Curves are thinned to a few hundred points
per run (log-spaced in the step, the last point kept) so that a page of a hundred runs
stays light; the hover shows the logged value at each drawn point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["convexity_figure", "exam_figure", "fits_figure", "laws_figure",
           "plan_curve_figure", "runs_figure", "thin"]

HEIGHT = 460
LOG_X_MENU = [{"type": "buttons", "direction": "left", "x": 1.0, "y": 1.01, "xanchor": "right",
               "yanchor": "bottom", "pad": {"b": 2},  # over the plot's right corner
               "showactive": True, "buttons": [
                   {"label": "log step", "method": "relayout",
                    "args": [{"xaxis.type": "log", "xaxis2.type": "log"}]},
                   {"label": "linear step", "method": "relayout",
                    "args": [{"xaxis.type": "linear", "xaxis2.type": "linear"}]}]}]


def thin(steps: np.ndarray, n: int = 400) -> np.ndarray:
    """Indices of at most ``n`` points spread log-uniformly over ``steps`` (last kept)."""
    steps = np.asarray(steps)
    if steps.size <= n:
        return np.arange(steps.size)
    lo, hi = max(float(steps[0]), 1.0), float(steps[-1])
    targets = np.geomspace(lo, hi, n)
    idx = np.unique(np.r_[np.searchsorted(steps, targets).clip(0, steps.size - 1),
                          steps.size - 1])
    return idx


def _go() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise ValueError("the HTML report needs plotly (pip install 'convexlaw[report]')"
                         ) from None
    return go


def _colors(values: Sequence[float]) -> dict[float, str]:
    """A viridis colour per distinct value (log-spaced: horizons, peaks)."""
    from plotly.colors import sample_colorscale

    vals = sorted({float(v) for v in values if v})
    if not vals:
        return {}
    if len(vals) == 1:
        return {vals[0]: sample_colorscale("Viridis", [0.1])[0]}
    logs = np.log(vals)
    pos = (logs - logs.min()) / (logs.max() - logs.min()) * 0.85
    return dict(zip(vals, sample_colorscale("Viridis", pos.tolist()), strict=True))


def _layout(fig: Any, title: str, xtitle: str, ytitle: str, logx: bool = True,
            logy: bool = False, height: int = HEIGHT) -> Any:
    fig.update_layout(title={"text": title, "x": 0.01}, height=height, template="plotly_white",
                      margin={"l": 70, "r": 20, "t": 70, "b": 55}, hovermode="closest",
                      legend={"font": {"size": 10}})
    fig.update_xaxes(title_text=xtitle, type="log" if logx else "linear")
    fig.update_yaxes(title_text=ytitle, type="log" if logy else "linear")
    return fig


def _label(run: Any) -> str:
    peak = f", η {run.peak_lr:.3g}" if run.peak_lr else ""
    return f"{run.name} (T {run.T}{peak})"


def runs_figure(runs: Sequence[Any], kind: str | None = None) -> Any:
    """Loss (top) and learning rate (bottom) against the step, one colour per horizon;
    clicking a run in the legend hides both of its curves."""
    go = _go()
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32],
                        vertical_spacing=0.06)
    colors = _colors([r.T for r in runs])
    for r in runs:
        color = colors.get(float(r.T), "#444")
        dash = "dot" if r.status == "diverged" else "solid"
        try:
            s, v = r.finite_curve(kind)
        except KeyError:
            continue
        i = thin(s)
        fig.add_trace(go.Scatter(
            x=s[i], y=v[i], mode="lines", name=_label(r), legendgroup=r.id,
            line={"color": color, "width": 1.3, "dash": dash},
            hovertemplate="%{fullData.name}<br>step %{x}<br>loss %{y:.5g}<extra></extra>"),
            row=1, col=1)
        steps = np.arange(1, r.T + 1)
        j = thin(steps, 300)
        fig.add_trace(go.Scatter(
            x=steps[j], y=r.lrs[j], mode="lines", name=_label(r), legendgroup=r.id,
            showlegend=False, line={"color": color, "width": 1.0, "dash": dash},
            hovertemplate="%{fullData.name}<br>step %{x}<br>lr %{y:.4g}<extra></extra>"),
            row=2, col=1)
    _layout(fig, "Loss and learning rate of every run (colour: horizon T; dotted: diverged)",
            "", "loss", height=620)
    fig.update_xaxes(title_text="step (updates)", row=2, col=1)
    fig.update_yaxes(title_text="learning rate", row=2, col=1)
    fig.update_layout(updatemenus=LOG_X_MENU)
    return fig


def fits_figure(curves: Sequence[dict[str, Any]], model: str) -> Any:
    """Logged loss (markers) and the fitted curve model (line) for each run."""
    go = _go()
    fig = go.Figure()
    colors = _colors([c["T"] for c in curves])
    for c in curves:
        color = colors.get(float(c["T"]), "#444")
        s, y, p = (np.asarray(c[k]) for k in ("steps", "logged", "predicted"))
        i = thin(s, 250)
        fig.add_trace(go.Scatter(
            x=s[i], y=y[i], mode="markers", name=c["name"], legendgroup=c["name"],
            marker={"color": color, "size": 4, "opacity": 0.6},
            hovertemplate="%{fullData.name}<br>step %{x}<br>logged %{y:.5g}<extra></extra>"))
        fig.add_trace(go.Scatter(
            x=s[i], y=p[i], mode="lines", name=f"{c['name']}: {model}",
            legendgroup=c["name"], showlegend=False, line={"color": color, "width": 1.6},
            hovertemplate="%{fullData.name}<br>step %{x}<br>fitted %{y:.5g}<extra></extra>"))
    _layout(fig, f"Curve model {model} against the logged curves (markers: logged; lines: "
                 "one shared fit)", "step (updates)", "loss", height=520)
    fig.update_layout(updatemenus=LOG_X_MENU)
    return fig


def laws_figure(plan: dict[str, Any], law: Any, literal: Any | None) -> Any:
    """Final loss against peak LR: pilots (filled: used, hollow: left out), the chosen
    law at each pilot horizon, and at the target with its band and the recommended η*."""
    go = _go()
    fig = go.Figure()
    pilots = [p for p in plan["pilots"] if p.get("final_loss") is not None]
    peaks = [p["peak"] for p in pilots] + [plan["eta_star"]]
    grid = np.geomspace(min(peaks) / 1.5, max(peaks) * 1.5, 120)
    N = plan.get("size")
    horizons = sorted({p["T"] for p in pilots})
    colors = _colors(horizons)
    for T in horizons:
        color = colors[float(T)]
        rows = sorted((p for p in pilots if p["T"] == T), key=lambda p: p["peak"])
        for used in (True, False):
            sel = [p for p in rows if bool(p["used"]) == used]
            if not sel:
                continue
            fig.add_trace(go.Scatter(
                x=[p["peak"] for p in sel], y=[p["final_loss"] for p in sel], mode="markers",
                name=f"pilots T = {T}" + ("" if used else " (left out)"),
                legendgroup=f"T{T}", text=[p["name"] for p in sel],
                marker={"color": color if used else "rgba(0,0,0,0)", "size": 9,
                        "line": {"color": color, "width": 1.5}},
                hovertemplate="%{text}<br>peak %{x:.4g}<br>final loss %{y:.5g}<extra></extra>"))
        spec = next(p["schedule"] for p in rows)
        try:
            line = law.predict(np.full(grid.size, float(T)), grid, N=N, shape=spec)
        except ValueError:
            continue
        fig.add_trace(go.Scatter(
            x=grid, y=line, mode="lines", name=f"law at T = {T}", legendgroup=f"T{T}",
            showlegend=False, line={"color": color, "width": 1.2},
            hovertemplate=f"law, T = {T}<br>peak %{{x:.4g}}<br>loss %{{y:.5g}}<extra></extra>"))
    T = plan["steps"]
    mid, lo, hi = law.peak_curve(T, grid, N=N, shape=plan["schedule"])
    red = "#d62728"
    if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
        fig.add_trace(go.Scatter(x=np.r_[grid, grid[::-1]], y=np.r_[hi, lo[::-1]],
                                 fill="toself", fillcolor="rgba(214,39,40,0.15)",
                                 line={"width": 0}, hoverinfo="skip", legendgroup="target",
                                 name=f"{100 * plan['level']:.0f} % band"))
    fig.add_trace(go.Scatter(
        x=grid, y=mid, mode="lines", name=f"target T = {T} ({plan['variant']} law)",
        legendgroup="target", line={"color": red, "width": 2.4},
        hovertemplate=f"target T = {T}<br>peak %{{x:.4g}}<br>loss %{{y:.5g}}<extra></extra>"))
    if literal is not None and plan["variant"] != "literal":
        fig.add_trace(go.Scatter(
            x=grid, y=literal.predict(np.full(grid.size, float(T)), grid, N=N,
                                      shape=plan["schedule"]),
            mode="lines", name="target, law as written (literal)",
            line={"color": red, "width": 1.2, "dash": "dash"},
            hovertemplate="literal law<br>peak %{x:.4g}<br>loss %{y:.5g}<extra></extra>"))
    e_lo, e_hi = plan["eta_interval"]
    l_lo, l_hi = plan["loss_interval"]
    fig.add_trace(go.Scatter(
        x=[plan["eta_star"]], y=[plan["loss_star"]], mode="markers",
        name=f"plan: η* = {plan['eta_star']:.4g}, L = {plan['loss_star']:.4g}",
        marker={"symbol": "star", "size": 16, "color": red},
        error_x=_bar(plan["eta_star"], e_lo, e_hi), error_y=_bar(plan["loss_star"], l_lo, l_hi),
        hovertemplate="recommended peak %{x:.4g}<br>predicted final loss %{y:.5g}"
                      "<extra></extra>"))
    finals = [p["final_loss"] for p in pilots]
    used = [p["final_loss"] for p in pilots if p["used"]] or finals
    top = max(used) + 0.08 * (max(used) - min(finals))  # every used pilot in view
    bottom = min(min(finals), float(np.nanmin(mid)), plan["loss_star"])
    bottom -= 0.05 * (top - bottom)
    _layout(fig, f"Final loss against peak LR: the pilots, the {plan['variant']} law and the "
                 f"plan for T = {T}", "peak learning rate η", "final loss", height=540)
    fig.update_yaxes(range=[bottom, top])
    return fig


def _bar(point: float, lo: float | None, hi: float | None) -> dict[str, Any]:
    ok = lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
    if not ok:
        return {"visible": False}
    return {"type": "data", "symmetric": False, "array": [max(hi - point, 0.0)],
            "arrayminus": [max(point - lo, 0.0)], "color": "#d62728", "thickness": 1.2}


def plan_curve_figure(plan: dict[str, Any], pilots: Sequence[Any] = (),
                      kind: str | None = None, measured: Any = None) -> Any:
    """The planned run's predicted loss curve, the pilots' curves, THE predicted final
    loss (star, with its interval) and a measured run at the target if there is one."""
    go = _go()
    fig = go.Figure()
    for i, r in enumerate(pilots):
        s, v = r.finite_curve(kind)
        j = thin(s, 200)
        fig.add_trace(go.Scatter(
            x=s[j], y=v[j], mode="lines", name="pilot runs (used)", legendgroup="pilots",
            showlegend=i == 0, line={"color": "#bbbbbb", "width": 0.9}, text=[r.name] * j.size,
            hovertemplate="%{text}<br>step %{x}<br>loss %{y:.5g}<extra></extra>"))
    if measured is not None:
        s, v = measured.finite_curve(kind)
        j = thin(s)
        fig.add_trace(go.Scatter(x=s[j], y=v[j], mode="lines", line={"color": "black"},
                                 name=f"measured at η = {measured.peak_lr:.3g}",
                                 hovertemplate="measured<br>step %{x}<br>loss %{y:.5g}"
                                               "<extra></extra>"))
    c = plan.get("curve")
    if c:
        note = ("its end is the prediction" if str(plan["loss_source"]).startswith("curve") else
                f"ends at {c['final']:.4g}; the law's value is the prediction")
        fig.add_trace(go.Scatter(
            x=c["steps"], y=c["loss"], mode="lines", line={"color": "#d62728", "width": 2.2},
            name=f"predicted curve ({c['model']}; {note})",
            hovertemplate="predicted<br>step %{x}<br>loss %{y:.5g}<extra></extra>"))
    source = "the law" if str(plan["loss_source"]).startswith("law") else "the curve model"
    lo, hi = plan["loss_interval"]
    fig.add_trace(go.Scatter(
        x=[plan["steps"]], y=[plan["loss_star"]], mode="markers",
        marker={"symbol": "star", "size": 16, "color": "#d62728"},
        error_y=_bar(plan["loss_star"], lo, hi),
        name=f"THE prediction: final loss {plan['loss_star']:.4g} (from {source})",
        hovertemplate="predicted final loss %{y:.5g}<extra></extra>"))
    _layout(fig, f"Planned run: T = {plan['steps']}, {plan['schedule']}, η* = "
                 f"{plan['eta_star']:.4g}", "step (updates)", "loss", logy=True)
    return fig


def exam_figure(results: Sequence[Any]) -> Any:
    """√T·Ω*_T against T for each schedule family (bounded: the optimal O(1/√T) rate)."""
    go = _go()
    fig = go.Figure()
    for r in results:
        fig.add_trace(go.Scatter(
            x=r.horizons, y=r.scaled_bound, mode="lines+markers",
            name=f"{r.spec} ({r.verdict})",
            line={"dash": "solid" if r.verdict == "pass" else "dash"},
            hovertemplate=f"{r.spec}<br>T %{{x:.3g}}<br>√T·Ω* %{{y:.5g}}<extra></extra>"))
    fig.add_hline(y=2.0, line={"color": "black", "dash": "dot", "width": 1},
                  annotation_text="2DG: linear decay, the optimum",
                  annotation_position="bottom right")
    ys = np.concatenate([np.asarray(r.scaled_bound, float) for r in results] + [[2.0]])
    _layout(fig, "Qualifying exam of the schedules used: √T·Ω*_T (D = G = 1, peak tuned)",
            "horizon T (steps)", "√T · Ω*_T", logy=True)
    lo, hi = np.log10(ys.min() / 1.03), np.log10(ys.max() * 1.03)
    return fig.update_yaxes(range=[lo, hi])


CONVEXITY_PANELS = (
    ("loss", "loss (eval batch)", False),
    ("curvature_normalised", "curvature along the update κ/‖d‖²", False),
    ("lam_max", "Hessian λ_max and |λ_min|", True),
    ("eos", "λ_max·η/2 (edge of stability at 1)", True),
    ("structural_gap", "structural gap log(λ_max/λ_min) of JJᵀ", False),
    ("grad_norm", "gradient norm", True),
)


def _floats(values: Any) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def convexity_figure(run: Any) -> Any:
    """The stored convexity diagnostics of a run against the step, t0 marked."""
    go = _go()
    from plotly.subplots import make_subplots

    rec = run.tags["convexity"]
    steps = np.asarray(rec.get("steps") or [], dtype=np.int64)
    checks = {k: _floats(v) for k, v in (rec.get("checks") or {}).items()}
    if "lam_max" in checks and "lr" in checks:
        checks["eos"] = checks["lam_max"] * checks["lr"] / 2
    panels = [p for p in CONVEXITY_PANELS
              if p[0] in checks and np.isfinite(checks[p[0]]).any()]
    rows = max(1, (len(panels) + 1) // 2)
    fig = make_subplots(rows=rows, cols=2, subplot_titles=[p[1] for p in panels],
                        vertical_spacing=0.12, horizontal_spacing=0.08)
    for k, (key, title, logy) in enumerate(panels):
        row, col = k // 2 + 1, k % 2 + 1
        y = checks[key]
        fig.add_trace(go.Scatter(x=steps, y=np.abs(y) if logy else y, mode="lines+markers",
                                 name=title, showlegend=False, marker={"size": 5},
                                 connectgaps=True,  # Hessian readings: every n-th check
                                 hovertemplate="step %{x}<br>%{y:.4g}<extra></extra>"),
                      row=row, col=col)
        if key == "lam_max" and "lam_min" in checks:
            fig.add_trace(go.Scatter(x=steps, y=np.abs(checks["lam_min"]),
                                     mode="lines+markers", name="|λ_min|", showlegend=False,
                                     line={"dash": "dash"}, connectgaps=True,
                                     marker={"size": 5, "symbol": "x"},
                                     hovertemplate="step %{x}<br>|λ_min| %{y:.4g}"
                                                   "<extra></extra>"), row=row, col=col)
        if logy:
            fig.update_yaxes(type="log", row=row, col=col)
        fig.update_xaxes(title_text="step", row=row, col=col)
    t0 = rec.get("t0")
    if t0 is not None:
        for k in range(len(panels)):
            fig.add_vline(x=t0, line={"color": "#d62728", "dash": "dot"},
                          row=k // 2 + 1, col=k % 2 + 1)
    onset = f"onset t0 = {t0} (dotted)" if t0 is not None else "no onset: the rule never fired"
    fig.update_layout(title={"text": f"Convexity diagnostics of {run.name}: {onset}", "x": 0.01},
                      height=280 * rows + 80, template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 80, "b": 40})
    return fig
