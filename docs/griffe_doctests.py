"""Griffe extension: render doctest blocks of our free-form docstrings as code.

convexlaw's docstrings carry their formulas as indented blocks and their examples as
doctests (``>>>`` lines and the output under them). Markdown would read ``>>>`` as nested
quotes, so each doctest block — from its first ``>>>`` line to the next blank line — is
fenced as ``pycon`` before mkdocstrings renders the docstring. Two reStructuredText habits
are read the way Sphinx reads them: a paragraph ending in ``::`` ends in ``:`` (its
indented block follows as code), and roles such as ``:mod:`.path``` become inline code.
"""

from __future__ import annotations

import re
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


_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|obj|exc):`~?([^`]+)`")


def rst_habits(text: str) -> str:
    """``text::`` → ``text:`` (a line of just ``::`` is dropped); ``:role:`x``` → ```x```."""
    out = []
    for line in text.splitlines():
        if line.rstrip().endswith("::"):
            head = line.rstrip()[:-2]
            if not head.strip():
                continue
            line = head + ("" if head.endswith(" ") else ":")
        out.append(line)
    return _ROLE.sub(r"`\1`", "\n".join(out))


class FenceDoctests(griffe.Extension):
    """Fence doctests and read reStructuredText habits in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        text = obj.docstring.value
        if "::" in text or ":`" in text:
            text = rst_habits(text)
        if ">>>" in text:
            text = fence_doctests(text)
        obj.docstring.value = text
