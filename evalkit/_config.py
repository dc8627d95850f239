"""Reading configuration files (data dictionaries, analysis plans): YAML and its problems.

One parser for every YAML file evalkit reads, with line numbers for every key, and one way of
listing configuration problems (key path, line, message), so a dictionary and a plan report their
mistakes the same way.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _parse_yaml(text: str, path, error: type) -> tuple[Any, yaml.Node | None]:
    """Parse YAML text into (data, node tree for line numbers); a syntax error names its line."""
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        where = f" at line {line}" if line else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{path}{where}: not valid YAML ({problem}); check indentation and quoting",
                    [("", line, str(problem))]) from None


def _key_lines(node: yaml.Node | None, prefix: tuple = ()) -> dict[tuple, int]:
    """Map every key path of a composed YAML document to its 1-based line number."""
    out: dict[tuple, int] = {}
    if node is None:
        return out
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (key_node.value,)
            out[path] = key_node.start_mark.line + 1
            out.update({k: v for k, v in _key_lines(value_node, path).items() if k != path})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(_key_lines(item, prefix + (i,)))
    return out


def _nearest_line(path: tuple, lines: dict[tuple, int]) -> int | None:
    for k in range(len(path), -1, -1):
        if path[:k] in lines:
            return lines[path[:k]]
    return None


def _pydantic_problems(exc: ValidationError, prefix: tuple, lines: dict[tuple, int], *,
                       drop: tuple = (), unknown_key=None) -> list[tuple[str, int | None, str]]:
    """``(key_path, line, message)`` for each pydantic error (shared by dictionaries and plans).

    ``drop`` names extra loc parts to leave out of key paths; ``unknown_key(path)`` words the
    message for a misspelt key (default: check it against the template dictionary).
    """
    # Pydantic reports union branches as extra loc parts ('int', 'list[int]'); drop them.
    skip = {"int", "list[int]", "float", "str", "tuple[float, float]", *drop}
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        loc = tuple(p for p in loc if p not in skip)
        path = prefix + loc
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = unknown_key(path) if unknown_key else \
                f"unknown key {path[-1]!r}; check its spelling against the template dictionary"
        elif err["type"] == "missing":
            msg = f"required key {path[-1]!r} is missing"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        out.append((_dotted(path), _nearest_line(path, lines), msg))
    return out


def _problem_report(where: str, problems: list[tuple[str, int | None, str]], what: str):
    """One message listing every problem once (in order), and the deduplicated list."""
    # One mistake can surface through two validators: deduplicate while keeping order.
    unique = list(dict.fromkeys(problems))
    body = [f"  {path or '(top level)'}{f' (line {line})' if line else ''}: {msg}"
            for path, line, msg in unique]
    head = f"{where}: {len(unique)} problem{'s' if len(unique) != 1 else ''} in the {what}"
    return head + "\n" + "\n".join(body), unique


