"""Griffe extension: render doctest blocks of our free-form docstrings as code.

convexlaw's docstrings carry their formulas as indented blocks and their examples as
doctests (``>>>`` lines and the output under them). Markdown would read ``>>>`` as nested
quotes, so each doctest block — from its first ``>>>`` line to the next blank line — is
fenced as ``pycon`` before mkdocstrings renders the docstring.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines (and their output) in a ```pycon fence."""
    out: list[str] = []
    block: list[str] = []
    indent = ""

    def close() -> None:
        if block:
            out.extend([f"{indent}```pycon", *block, f"{indent}```"])
            block.clear()

    in_fence = False
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence and stripped.startswith(">>>") and not block:
            indent = line[: len(line) - len(stripped)]
            block.append(line)
        elif block and stripped:
            block.append(line)
        else:
            close()
            out.append(line)
    close()
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Fence doctests in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
