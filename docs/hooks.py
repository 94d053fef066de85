"""MkDocs hook: run the examples that make the site's figures and tables before a build.

Each entry of ``EXAMPLES`` is a script in ``examples/`` called as
``python SCRIPT --out docs/generated``; pages include its PNGs and Markdown snippets, so
nothing on the site is a file kept by hand. A failing example fails the build.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

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
