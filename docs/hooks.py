"""MkDocs hooks: run the examples that make the site's figures and tables before a build,
and keep the formulas written in plain text (README style) from turning into emphasis.

Each entry of ``EXAMPLES`` is a script in ``examples/`` called as
``python SCRIPT --out docs/generated``; pages include its PNGs and Markdown snippets, so
nothing on the site is a file kept by hand. A failing example fails the build.

The README and the pages write formulas in Unicode — η*_peak, Ω*_T, L̂_t — which GitHub
shows as typed but Python-Markdown reads as emphasis (two such stars in a paragraph make
an italic run, an underscore after a non-word character opens one). ``PlainFormulas``
escapes, after the snippets are included and the code blocks set aside, every underscore
of the text and each star that follows a one-letter symbol (η*, L*, r*) or ``_ref``.
Inline code, link targets and indented code blocks are left alone.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from markdown import Extension
from markdown.preprocessors import Preprocessor

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "generated"
EXAMPLES = ("bound_figure.py", "exam_table.py")
log = logging.getLogger("mkdocs.hooks.examples")


def on_pre_build(config, **kwargs) -> None:  # noqa: ARG001 (mkdocs hook signature)
    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    for name in EXAMPLES:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, str(ROOT / "examples" / name), "--out", str(OUT)],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"docs: example {name} failed (exit {done.returncode}):\n"
                             f"{done.stderr.strip()[-2000:]}")
        log.info("example %s ran in %.1f s", name, time.perf_counter() - t0)


# kept as written: inline code spans (within a paragraph, possibly across lines), link
# targets, indented code lines and HTML comments
_KEEP = re.compile(r"(`+)(?:(?!\n[ \t]*\n)[\s\S])+?(?<!`)\1(?!`)|\]\([^)]*\)"
                   r"|^(?: {4}|\t).*$|<!--[\s\S]*?-->", re.MULTILINE)


def _escape_text(text: str) -> str:
    out = []
    emphasis = False  # inside *...*: its closing star stays a star
    for i, ch in enumerate(text):
        prev, nxt = text[i - 1:i], text[i + 1:i + 2]
        if ch == "_":
            ch = "\\_"
        elif ch == "*" and "*" not in prev + nxt:
            if not prev.isalnum() and nxt.strip():  # opens emphasis
                emphasis = True
            elif emphasis:
                emphasis = False
            elif prev.isalpha() and not text[i - 2:i - 1].isalpha() or \
                    text[max(0, i - 4):i] == "_ref":  # η*, L*, r*, η_ref*
                ch = "\\*"
        out.append(ch)
    return "".join(out)


def plain_formulas(text: str) -> str:
    """Escape formula underscores and stars of Markdown text (see the module doc)."""
    parts, last = [], 0
    for m in _KEEP.finditer(text):
        parts += [_escape_text(text[last:m.start()]), m.group(0)]
        last = m.end()
    parts.append(_escape_text(text[last:]))
    return "".join(parts)


class _PlainFormulas(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        return plain_formulas("\n".join(lines)).split("\n")


class PlainFormulas(Extension):
    def extendMarkdown(self, md) -> None:  # noqa: N802 (Python-Markdown's name)
        # after pymdownx.snippets (32) and the fenced-code stash (25)
        md.preprocessors.register(_PlainFormulas(md), "plain_formulas", 24)


def on_config(config, **kwargs):  # noqa: ARG001 (mkdocs hook signature)
    config.markdown_extensions.append(PlainFormulas())
    return config
