"""A drafted YAML file (a dictionary or a plan): its data, a comment per guess, and the questions.

``evalkit import-redcap`` and ``evalkit init`` guess; a guess the user does not see is a silent
one. So a draft keeps, beside each value, why it was chosen (``# check: …``) and lists what it
could not decide as numbered questions, in the file's header and again at the line to edit.

Examples
--------
>>> d = Draft({"study": "x", "waves": {"baseline": {"week": 0, "window": [0, 0]}}})
>>> d.check(("waves", "baseline"), "week 0: the first event")
>>> d.ask(("study",), "what is the programme called?")
>>> print(d.to_yaml(title="data dictionary"))
# data dictionary drafted by evalkit: every guess is marked `# check`; answer the questions, then
# delete this block.
#
# QUESTION 1 (study): what is the programme called?
<BLANKLINE>
study: x  # QUESTION 1
waves:
  baseline: {week: 0, window: [0, 0]}  # check: week 0: the first event
<BLANKLINE>
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import yaml

__all__ = ["Draft"]

_FLOW_WIDTH = 96   # a mapping longer than this on one line is written as a block


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10 ** 6, sort_keys=False,
                          allow_unicode=True).strip()
    return text[:-3].strip() if text.endswith("...") else text


@dataclass
class Draft:
    """YAML-able ``data``, a comment per key path, and the questions for the user."""

    data: dict
    comments: dict = field(default_factory=dict)
    questions: list = field(default_factory=list)

    def check(self, path: tuple, why: str) -> None:
        """Mark the value at ``path`` as a guess, saying what it rests on."""
        self.comments[tuple(path)] = f"check: {why}"

    def ask(self, path: tuple, question: str) -> None:
        """A question the draft cannot answer; ``path`` is where the answer goes."""
        self.questions.append((tuple(path), question))
        n = len(self.questions)
        old = self.comments.get(tuple(path))
        self.comments[tuple(path)] = f"QUESTION {n}" + (f"; {old}" if old else "")

    def to_yaml(self, *, title: str) -> str:
        """The commented YAML text: header with the questions, then the data."""
        head = [f"{title} drafted by evalkit: every guess is marked `# check`; answer the questions, "
                "then delete this block."]
        if self.questions:
            head.append("")
            for i, (path, q) in enumerate(self.questions, 1):
                where = ".".join(str(p) for p in path) or "(top level)"
                head.append(f"QUESTION {i} ({where}): {q}")
        else:
            head.append("")
            head.append("No questions: check each `# check` line, then delete this block.")
        out = []
        for line in head:
            indent = "    " if line.startswith("QUESTION") else ""
            wrapped = textwrap.wrap(line, 98, subsequent_indent=indent) if line else [""]
            out += [f"# {w}".rstrip() for w in wrapped]
        out.append("")
        self._emit(self.data, (), 0, out)
        return "\n".join(out) + "\n"

    def _leaf(self, value, path: tuple) -> bool:
        """Written on one line: a scalar, a list of scalars, or a mapping that fits and has no
        commented part (a comment needs a line of its own)."""
        if isinstance(value, dict):
            inner = any(len(p) > len(path) and p[:len(path)] == path for p in self.comments)
            return bool(value) and not inner and len(_flow(value)) <= _FLOW_WIDTH
        if isinstance(value, list):
            return all(not isinstance(v, (dict, list)) for v in value)
        return True

    def _comment(self, path: tuple) -> str:
        c = self.comments.get(path)
        return f"  # {c}" if c else ""

    def _emit(self, value, path: tuple, indent: int, out: list) -> None:
        pad = " " * indent
        if isinstance(value, dict):
            for k, v in value.items():
                key = _flow(k)
                here = path + (k,)
                if self._leaf(v, here):
                    out.append(f"{pad}{key}: {_flow(v)}{self._comment(here)}")
                elif isinstance(v, dict) and not v:
                    out.append(f"{pad}{key}: {{}}{self._comment(here)}")
                else:
                    out.append(f"{pad}{key}:{self._comment(here)}")
                    self._emit(v, here, indent + 2, out)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                here = path + (i,)
                if isinstance(v, dict):
                    lines: list = []
                    self._emit(v, here, indent + 2, lines)
                    first = lines[0][indent + 2:] if lines else "{}"
                    out.append(f"{pad}- {first}{self._comment(here)}")
                    out.extend(lines[1:])
                else:
                    out.append(f"{pad}- {_flow(v)}{self._comment(here)}")
