"""The HTML of the study report: escaped cells, tables and notes, the page's sections and
figures (``_Page``), and the whole page around them with its style and script
(``_render``)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


class Raw(str):
    """A table cell that is already HTML."""


def _e(x: Any) -> str:
    return x if isinstance(x, Raw) else html.escape(str(x))


def _num(x: Any, fmt: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return format(x, fmt) if isinstance(x, (int, float, np.number)) else str(x)


def _table(headers: Sequence[str] | None, rows: Sequence[Sequence[Any]], table_id: str = "",
           sortable: bool = False) -> str:
    """A table; sortable ones (click a header) also scroll when long."""
    ident = f' id="{table_id}"' if table_id else ""
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers or [])
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if headers else ""
    return f"<table{ident}{cls}>{thead}<tbody>{body}</tbody></table>"


def _notes(lines: Sequence[str], cls: str = "note") -> str:
    return "".join(f'<p class="{cls}">{_e(x)}</p>' for x in lines)


class _Page:
    """Sections and figures of the page, in order."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, str, str]] = []
        self.figures: list[str] = []

    def figure(self, fig: Any) -> str:
        div_id = f"fig-{len(self.figures) + 1}"
        self.figures.append(div_id)
        return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                           config={"displaylogo": False, "responsive": True})

    def add(self, key: str, title: str, body: str) -> None:
        self.sections.append((key, title, body))


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222}
header{padding:14px 28px;background:#1f2937;color:#fff}header h1{margin:0;font-size:21px}
header p{margin:4px 0 0;color:#cbd5e1;font-size:13px}
nav{position:sticky;top:0;background:#f3f4f6;padding:8px 28px;border-bottom:1px solid #ddd;
z-index:10}nav a{margin-right:18px;color:#1d4ed8;text-decoration:none;font-size:14px}
main{padding:6px 28px 40px}section{margin-top:22px}h2{border-bottom:2px solid #e5e7eb;
padding-bottom:4px}table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #e5e7eb;padding:3px 8px;text-align:left}th{background:#f9fafb}
table.sortable th{cursor:pointer}table.sortable th:hover{background:#eef2ff}
table.sortable{display:block;max-height:320px;overflow:auto}
#runs-filter{width:420px;padding:5px 8px;margin:6px 0;font-size:14px}
.note{color:#444;font-size:14px}.warning{color:#92400e;background:#fffbeb;padding:4px 8px;
font-size:13px;margin:4px 0}pre{background:#f9fafb;padding:8px;font-size:12px;overflow:auto}
.cols{display:flex;gap:28px;flex-wrap:wrap}
"""

SCRIPT = """
function filterRuns(q){q=q.toLowerCase();
 document.querySelectorAll('#runs-table tbody tr').forEach(function(tr){
  tr.style.display=tr.textContent.toLowerCase().indexOf(q)>=0?'':'none';});}
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows),up=th.dataset.up!=='1';
  th.dataset.up=up?'1':'0';
  rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent,
   u=parseFloat(x),v=parseFloat(y);var c=(isNaN(u)||isNaN(v))?x.localeCompare(y):u-v;
   return up?c:-c;});
  rows.forEach(function(r){body.appendChild(r);});});});});
"""


def _render(page: _Page, heading: str, stamp: str) -> str:
    from plotly.offline import get_plotlyjs

    nav = "".join(f'<a href="#{k}">{_e(t)}</a>' for k, t, _ in page.sections)
    sections = "".join(f'<section id="{k}"><h2>{_e(t)}</h2>{b}</section>'
                       for k, t, b in page.sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(heading)}</title><style>{CSS}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
            f"<header><h1>{_e(heading)}</h1><p>{_e(stamp)}</p></header><nav>{nav}</nav>"
            f"<main>{sections}</main><script>{SCRIPT}</script></body></html>")
