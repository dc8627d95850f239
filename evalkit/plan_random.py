"""The random-effects part of an analysis plan (``model.random``), checked when the plan is loaded.

``model.random`` is either the short form for the mother's own random effects (``weeks``, ``1``,
``0 + weeks``) or terms in lme4's syntax, each with its grouping factor:
``(1 + weeks | participant_id) + (1 | volunteer_id)``. The terms are read by
:func:`evalkit.models.random_terms.parse_random`, so a plan and ``ek.fit_mixed`` accept the same
text; the checks here add what a plan needs: the mother's term comes first (the per-mother random
effects feed the QQ plots and the secondary models), and every grouping factor is a variable of
the data dictionary.
"""

from __future__ import annotations

from .errors import SpecificationError
from .models.random_terms import is_term_syntax, parse_random

__all__ = ["check_random", "several_terms", "mother_random", "grouping_columns", "order_problems"]

EXAMPLE = "(1 + weeks | participant_id) + (1 | volunteer_id)"


def check_random(text: str) -> str:
    """``text`` if it is a valid ``model.random``; otherwise ``ValueError`` saying how to fix it.

    >>> check_random("(1 + weeks | participant_id) + (1 | volunteer_id)")
    '(1 + weeks | participant_id) + (1 | volunteer_id)'
    >>> check_random("(1 + weeks | participant_id) + (1 | volunteer_id")
    Traceback (most recent call last):
    ...
    ValueError: random=... a '(' is not closed; ... e.g. (1 + weeks | participant_id)
    + (1 | volunteer_id)
    """
    if not text.strip():
        raise ValueError(f"model.random is empty; write weeks (a random intercept and slope for "
                         f"each mother), 1 (an intercept), or terms such as {EXAMPLE}")
    if not is_term_syntax(text):
        if "(" in text or ")" in text:
            raise ValueError(f"model.random {text!r} has parentheses but no '|'; write each term "
                             f"as (columns | grouping factor), e.g. {EXAMPLE}")
        return text
    try:
        parse_random(text)
    except SpecificationError as exc:
        # the parser's own message names the term and, mostly, an example; add one if not
        raise ValueError(str(exc) if "e.g." in str(exc) else f"{exc}; e.g. {EXAMPLE}") from None
    return text


def several_terms(text: str | None) -> bool:
    """Whether ``text`` has more than one random-effects term (or a nested or combined factor).

    >>> several_terms("weeks"), several_terms("(1 + weeks | participant_id)")
    (False, False)
    >>> several_terms("(1 + weeks | participant_id) + (1 | volunteer_id)")
    True
    """
    if not isinstance(text, str) or not is_term_syntax(text):
        return False
    try:
        terms = parse_random(text).terms
    except SpecificationError:
        return False                  # reported by check_random
    return len(terms) > 1 or len(terms[0].factor) > 1


def mother_random(text: str, id_column: str) -> str:
    """The mother's own random effects in ``text``, as one term (or the short form unchanged).

    The short form (``weeks`` for ``1 + weeks``) is returned where it says the same, so a
    secondary model's description matches the one-factor fit that ``ek.fit_mixed`` makes of it;
    an uncorrelated term (``||``) stays a term.

    >>> mother_random("(1 + weeks | participant_id) + (1 | volunteer_id)", "participant_id")
    'weeks'
    >>> mother_random("(1 + weeks || participant_id) + (1 | volunteer_id)", "participant_id")
    '(1 + weeks || participant_id)'
    >>> mother_random("weeks", "participant_id")
    'weeks'
    """
    if not is_term_syntax(text):
        return text
    for term in parse_random(text).terms:
        if term.factor == (id_column,):
            if not term.correlated:
                return term.text()
            parts = [p.strip() for p in term.expr.split("+")]
            return " + ".join(parts[1:]) if parts[0] == "1" and len(parts) > 1 else term.expr
    raise SpecificationError(f"model.random {text!r} has no term for each mother; start it with "
                             f"(1 + weeks | {id_column})")


def grouping_columns(text: str) -> list[str]:
    """The grouping columns of ``text`` (none for the short form or a text that does not parse).

    >>> grouping_columns("(1 + weeks | participant_id) + (1 | site/volunteer_id)")
    ['participant_id', 'site', 'volunteer_id']
    """
    if not is_term_syntax(text):
        return []
    try:
        return parse_random(text).columns
    except SpecificationError:
        return []                     # reported with the plan's shape


def order_problems(text: str, *, id_column: str) -> list[str]:
    """What is wrong with the order of ``text``'s terms: the mother's term must exist and come
    first (the per-mother random effects feed the QQ plots and the secondary models).

    >>> order_problems("(1 | volunteer_id) + (1 + weeks | participant_id)",
    ...                id_column="participant_id")
    ["the first term must be the mother's, (... | participant_id): move (1 + weeks | participant_id) to the front"]
    >>> order_problems("(1 | volunteer_id)", id_column="participant_id")
    ['no term groups by the mother (participant_id); start model.random with (1 + weeks | participant_id)']
    """
    if not grouping_columns(text):
        return []
    terms = parse_random(text).terms
    mine = [t for t in terms if t.factor == (id_column,)]
    if not mine:
        return [f"no term groups by the mother ({id_column}); start model.random with "
                f"(1 + weeks | {id_column})"]
    if terms[0].factor != (id_column,):
        return [f"the first term must be the mother's, (... | {id_column}): move "
                f"{mine[0].text()} to the front"]
    return []
