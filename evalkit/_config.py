"""Reading configuration files (data dictionaries, analysis plans): YAML and its problems.

One parser for every configuration file evalkit reads, with line numbers for every key, and one
way of listing configuration problems (key path, line, message), so a dictionary and a plan report
their mistakes the same way.

The parser is hardened: a configuration never needs YAML anchors and aliases, so they are refused
without being expanded (an alias bomb costs nothing); documents over :data:`MAX_BYTES` or nested
deeper than :data:`MAX_DEPTH` are refused; a key given twice in one mapping is an error naming both
lines (PyYAML would silently keep the last); tags (``!!python/...``) and values Python cannot hold
are errors with their line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

MAX_BYTES = 2_000_000
"""Largest configuration file read (bytes): real dictionaries and plans are a few kilobytes."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists accepted: real configurations need about six levels."""

_WHAT = {"PlanError": "analysis plan", "DictionaryError": "data dictionary"}


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


class _TooDeep(Exception):
    def __init__(self, mark):
        super().__init__()
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, hardened for configuration files.

    Anchors and aliases are never expanded (an alias becomes an empty placeholder and is reported:
    ten lines of aliases can otherwise expand to billions of values), nesting deeper than
    :data:`MAX_DEPTH` stops composing at once, and nodes to report are remembered in ``flagged``
    so the problems can be listed with their key paths.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self.flagged: dict[int, str] = {}
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            event = self.peek_event()
            if self._depth > MAX_DEPTH:
                raise _TooDeep(event.start_mark)
            if self.check_event(yaml.AliasEvent):
                self.get_event()
                node = yaml.ScalarNode("tag:yaml.org,2002:null", "", event.start_mark,
                                       event.end_mark)
                self.flagged[id(node)] = f"alias *{event.anchor}"
                return node
            anchor = event.anchor
            self.descend_resolver(parent, index)
            if self.check_event(yaml.ScalarEvent):
                node = self.compose_scalar_node(None)
            elif self.check_event(yaml.SequenceStartEvent):
                node = self.compose_sequence_node(None)
            else:
                node = self.compose_mapping_node(None)
            self.ascend_resolver()
            if anchor is not None:
                self.flagged[id(node)] = f"anchor &{anchor}"
            return node
        finally:
            self._depth -= 1


def _structure_problems(node: yaml.Node | None, flagged: dict[int, str]
                        ) -> list[tuple[str, int | None, str]]:
    """Anchors and aliases (one problem per line) and duplicate keys, with key paths and lines."""
    found: list[tuple[tuple, int, str]] = []    # (key path, line, anchor/alias)
    dupes: list[tuple[str, int | None, str]] = []

    def walk(node, prefix):
        if id(node) in flagged:
            found.append((prefix, node.start_mark.line + 1, flagged[id(node)]))
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                path, line = prefix + (key,), key_node.start_mark.line + 1
                if id(key_node) in flagged:
                    found.append((path, line, flagged[id(key_node)]))
                if isinstance(key_node, yaml.ScalarNode):
                    ident = (key_node.tag, key_node.value)
                    if ident in seen:
                        dupes.append((_dotted(path), line, f"duplicate key {key!r} at lines "
                                      f"{seen[ident]} and {line} (YAML would silently keep only "
                                      "the last); keep one of them"))
                    else:
                        seen[ident] = line
                walk(value_node, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, prefix + (i,))

    if node is not None:
        walk(node, ())
    by_line: dict[int, tuple[tuple, list[str]]] = {}
    for path, line, what in found:
        by_line.setdefault(line, (path, []))[1].append(what)
    refused = []
    for line, (path, whats) in by_line.items():
        counts = dict.fromkeys(whats, 0)
        for w in whats:
            counts[w] += 1
        names = " and ".join(f"{w}{f' ({n} times)' if n > 1 else ''}" for w, n in counts.items())
        refused.append((_dotted(path), line, f"{names}: YAML anchors and aliases are not allowed in "
                        "an evalkit configuration (they can expand to billions of values); remove "
                        "them and write each value out in full"))
    return sorted(refused + dupes, key=lambda p: p[1] or 0)


def _bad_scalar(loader: _Loader, node: yaml.Node | None) -> tuple[int | None, str] | None:
    """The first scalar that cannot be constructed (e.g. the date 2024-13-45), for its line."""
    if isinstance(node, yaml.ScalarNode):
        try:
            loader.construct_object(node)
        except Exception as exc:  # noqa: BLE001 - any failure here is a value the user wrote
            return node.start_mark.line + 1, f"{node.value!r} cannot be read ({exc})"
        return None
    children = []
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    for child in children:
        found = _bad_scalar(loader, child)
        if found:
            return found
    return None


def _parse_yaml(text: str, path, error: type, what: str | None = None
                ) -> tuple[Any, yaml.Node | None]:
    """Parse configuration YAML into (data, node tree for line numbers), refusing what is unsafe.

    Every evalkit configuration (data dictionary, analysis plan) is read here. Refused, with the
    line and how to fix it: a document over :data:`MAX_BYTES`, nesting deeper than
    :data:`MAX_DEPTH`, anchors and aliases (never expanded, so an alias bomb costs nothing), and
    duplicate keys in a mapping (PyYAML would silently keep the last). A syntax error names its line.
    ``error`` is the exception class raised (``DictionaryError``, ``PlanError``), with every problem
    of the file listed at once.
    """
    what = what or _WHAT.get(error.__name__, "configuration file")
    size = len(text) if len(text) > MAX_BYTES else len(text.encode("utf-8", errors="replace"))
    if size > MAX_BYTES:
        raise error(f"{path}: the file is {size / 1e6:.1f} MB, more than an evalkit {what} can be "
                    f"({MAX_BYTES / 1e6:.0f} MB); check that this is the right file",
                    [("", None, f"file larger than {MAX_BYTES} bytes")])
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        problems = _structure_problems(node, loader.flagged)
        if problems:
            message, unique = _problem_report(str(path), problems, what)
            raise error(message, unique)
        try:
            data = loader.construct_document(node) if node is not None else None
        except yaml.YAMLError:
            raise
        except Exception:  # noqa: BLE001 - a scalar Python cannot hold (e.g. a 13th month)
            line, problem = _bad_scalar(_Loader(""), node) or (None, "a value cannot be read")
            where = f" at line {line}" if line else ""
            raise error(f"{path}{where}: {problem}; correct the value or put it in quotes",
                        [("", line, problem)]) from None
        return data, node
    except _TooDeep as exc:
        line = exc.mark.line + 1
        raise error(f"{path} at line {line}: nested more than {MAX_DEPTH} levels deep; an evalkit "
                    f"{what} needs only a few levels, so check the indentation and brackets",
                    [("", line, f"nested more than {MAX_DEPTH} levels deep")]) from None
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        problem = f"character #x{exc.character:04x} is not allowed in YAML"
        raise error(f"{path} at line {line}: {problem}; remove it (is this a YAML text file?)",
                    [("", line, problem)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        where = f" at line {line}" if line else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        if problem.startswith("could not determine a constructor for the tag"):
            tag = problem.rsplit(" ", 1)[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
            raise error(f"{path}{where}: the YAML tag {tag} is not allowed in an evalkit {what}; "
                        "remove it and write a plain value", [("", line, f"tag {tag}")]) from None
        raise error(f"{path}{where}: not valid YAML ({problem}); check indentation and quoting",
                    [("", line, str(problem))]) from None
    finally:
        if loader is not None:
            loader.dispose()


def _read_yaml(path, error: type, what: str | None = None) -> tuple[Any, dict[tuple, int], bytes]:
    """Read and parse a configuration file: (data, key-path line numbers, raw bytes).

    The size is checked before the file is read in full, so a huge file given by mistake costs
    nothing.
    """
    path = Path(path)
    what = what or _WHAT.get(error.__name__, "configuration file")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise error(f"{path}: the file is {size / 1e6:.1f} MB, more than an evalkit {what} can "
                        f"be ({MAX_BYTES / 1e6:.0f} MB); check that this is the right file",
                        [("", None, f"file larger than {MAX_BYTES} bytes")])
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}; check the path"
                    ) from None
    data, node = _parse_yaml(raw.decode("utf-8", errors="replace"), path, error, what)
    return data, _key_lines(node), raw


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


_BOUNDS = {"greater_than_equal": "at least", "greater_than": "more than",
           "less_than_equal": "at most", "less_than": "less than"}


def _pydantic_problems(exc: ValidationError, prefix: tuple, lines: dict[tuple, int], *,
                       drop: tuple = (), unknown_key=None) -> list[tuple[str, int | None, str]]:
    """``(key_path, line, message)`` for each pydantic error (shared by dictionaries and plans).

    ``drop`` names extra loc parts to leave out of key paths; ``unknown_key(path)`` words the
    message for a misspelt key (default: check it against the template dictionary).
    """
    # Pydantic reports union branches as extra loc parts ('int', 'list[int]'); drop them.
    skip = {"int", "list[int]", "float", "str", "tuple[float, float]", *drop}
    errors = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        errors.append((prefix + tuple(p for p in loc if p not in skip), err))
    # A union (a list or a mapping, say) reports each branch: "not a list" next to a problem inside
    # the mapping that was given. The deeper problem is the one to fix; drop the other branch's.
    deeper = {path[:k] for path, _ in errors for k in range(len(path))}
    out = []
    for path, err in errors:
        if err["type"].endswith("_type") and path in deeper:
            continue
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = unknown_key(path) if unknown_key else \
                f"unknown key {path[-1]!r}; check its spelling against the template dictionary"
        elif err["type"] == "missing" and path and isinstance(path[-1], int):
            msg = f"too few values: item {path[-1]} (counting from 0) is missing"
        elif err["type"] == "missing":
            msg = f"required key {path[-1]!r} is missing"
        elif err["type"] == "too_short":
            msg = f"{_dotted(path[-1:]) or 'the value'} is empty; give at least one entry"
        elif err["type"] in _BOUNDS:
            bound = next(iter((err.get("ctx") or {}).values()), "?")
            msg = f"{path[-1]} must be {_BOUNDS[err['type']]} {bound}, got {err['input']!r}"
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


