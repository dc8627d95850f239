"""Random-effects terms in lme4's syntax: ``(1 + weeks | participant_id) + (1 | site/volunteer_id)``.

One concept: turn the text a user writes into a small, immutable :class:`RandomSpec` of
:class:`RandomTerm` objects (the columns of each term, its grouping factor, correlated or not), with
lme4's expansions — ``(x | a/b)`` is ``(x | a) + (x | a:b)``; ``(x || g)`` keeps the terms of ``x``
uncorrelated; a factor ``a:b`` groups by the combination of ``a`` and ``b`` (crossed factors are
simply separate terms). Hand-written because the syntax is lme4's, which formulaic does not parse,
and because a typo here should produce an error that names the term and says how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import SpecificationError

__all__ = ["RandomTerm", "RandomSpec", "parse_random", "is_term_syntax"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term: ``expr`` (its columns, a formula) varying over ``factor``.

    ``factor`` holds the grouping columns; more than one means their combination (``a:b``).
    """

    expr: str
    factor: tuple
    correlated: bool = True

    @property
    def group(self) -> str:
        """The grouping factor's name as lme4 prints it (``site:volunteer_id``)."""
        return ":".join(self.factor)

    def text(self) -> str:
        return f"({self.expr} {'|' if self.correlated else '||'} {self.group})"


@dataclass(frozen=True)
class RandomSpec:
    """The random-effects terms of a model, in the order written (nested ones expanded)."""

    terms: tuple

    def text(self) -> str:
        return " + ".join(t.text() for t in self.terms)

    @property
    def columns(self) -> list:
        """Every grouping column used, once each."""
        return list(dict.fromkeys(c for t in self.terms for c in t.factor))

    def replace_term(self, index: int, term: RandomTerm | None) -> "RandomSpec":
        """This spec with term ``index`` replaced (``None``: removed)."""
        terms = list(self.terms)
        if term is None:
            del terms[index]
        else:
            terms[index] = term
        return RandomSpec(tuple(terms))


def is_term_syntax(random: str | None) -> bool:
    """Whether ``random`` is written in lme4's term syntax (it has a ``|``)."""
    return random is not None and "|" in random


def _split_top(text: str) -> list[str]:
    """``text`` split on ``+`` outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SpecificationError(f"random={text!r}: a ')' has no matching '('; write each "
                                         "term as (columns | factor)")
        elif ch == "+" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise SpecificationError(f"random={text!r}: a '(' is not closed; write each term as "
                                 "(columns | factor)")
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _factor(group: str, piece: str) -> list[tuple]:
    """The grouping factors of ``a``, ``a:b`` or ``a/b/c`` (nested: a, a:b, a:b:c)."""
    nested = [g.strip() for g in group.split("/")]
    for g in nested:
        names = [n.strip() for n in g.split(":")]
        bad = [n for n in names if not _NAME.match(n)]
        if not g or bad:
            raise SpecificationError(
                f"random term {piece!r}: {g or group!r} is not a grouping factor; after the bar "
                "write a column name, a:b for the combination of two columns, or a/b for b "
                "nested in a, e.g. (1 | site/volunteer_id)")
    factors, prefix = [], []
    for g in nested:
        prefix = prefix + [n.strip() for n in g.split(":")]
        factors.append(tuple(prefix))
    return factors


def parse_random(text: str) -> RandomSpec:
    """Parse lme4-style random-effects terms into a :class:`RandomSpec`.

    Parameters
    ----------
    text : str
        Terms joined by ``+``, each ``(columns | factor)`` or ``(columns || factor)``: e.g.
        ``"(1 + weeks | participant_id) + (1 | volunteer_id)"``. ``factor`` may be ``a:b`` (the
        combination) or ``a/b`` (``b`` nested in ``a``: expands to ``a`` and ``a:b``).

    Returns
    -------
    RandomSpec

    Raises
    ------
    evalkit.errors.SpecificationError
        Naming the term that cannot be read and how to write it.

    Examples
    --------
    >>> spec = parse_random("(1 + weeks | participant_id) + (1 | site/volunteer_id)")
    >>> [(t.expr, t.group, t.correlated) for t in spec.terms]
    [('1 + weeks', 'participant_id', True), ('1', 'site', True), ('1', 'site:volunteer_id', True)]
    >>> parse_random("(weeks || mother)").terms[0].correlated
    False
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecificationError("random= is empty; write terms such as (1 | participant_id)")
    terms = []
    for piece in _split_top(text.strip()):
        if not piece:
            raise SpecificationError(f"random={text!r}: an empty term between '+' signs; join "
                                     "terms as (1 | a) + (1 | b)")
        if not (piece.startswith("(") and piece.endswith(")")):
            raise SpecificationError(
                f"random term {piece!r} is not in parentheses; write it as (columns | factor), "
                f"e.g. (1 + weeks | participant_id)")
        inner = piece[1:-1]
        if "||" in inner:
            lhs, _, rhs = inner.partition("||")
            correlated = False
        elif "|" in inner:
            lhs, _, rhs = inner.partition("|")
            correlated = True
        else:
            raise SpecificationError(
                f"random term {piece!r} has no '|'; write (columns | factor), e.g. (1 | {inner.strip()})")
        lhs, rhs = lhs.strip(), rhs.strip()
        if "|" in rhs:
            raise SpecificationError(f"random term {piece!r} has more than one bar; use one '|' "
                                     "(correlated) or '||' (uncorrelated)")
        if not lhs:
            raise SpecificationError(f"random term {piece!r} has nothing before the bar; write 1 "
                                     "for a random intercept, e.g. (1 | site)")
        if not rhs:
            raise SpecificationError(f"random term {piece!r} has no grouping factor after the bar")
        for factor in _factor(rhs, piece):
            terms.append(RandomTerm(expr=lhs, factor=factor, correlated=correlated))
    groups = [t.group for t in terms]
    repeated = sorted({g for g in groups if groups.count(g) > 1})
    if repeated:
        raise SpecificationError(
            f"random={text!r}: the factor {repeated[0]!r} appears in more than one term; put its "
            "columns in one term, (1 + weeks | g), or use || for uncorrelated ones")
    return RandomSpec(tuple(terms))
