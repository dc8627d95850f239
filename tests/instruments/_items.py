"""Shared builders for the hand-worked instrument tests: item frames and rows with a given total."""

from __future__ import annotations

import numpy as np
import pandas as pd

import evalkit as ek


def item_frame(instrument: str, *rows, index=None, dtype=float) -> pd.DataFrame:
    """One row per answered questionnaire; ``None`` is a missing answer."""
    spec = ek.instruments.get(instrument)
    data = [[np.nan if v is None else v for v in r] for r in rows]
    return pd.DataFrame(data, columns=spec.item_columns(), index=index, dtype=dtype)


def items_summing_to(instrument: str, total: int) -> list[int]:
    """Item answers (in item order) whose raw sum is ``total``: every item starts at its minimum and
    the rest is added greedily from item 1 within each item's range."""
    spec = ek.instruments.get(instrument)
    lows = [int(spec.items.range_of(k)[0]) for k in spec.items.numbers]
    highs = [int(spec.items.range_of(k)[1]) for k in spec.items.numbers]
    values, rest = list(lows), total - sum(lows)
    for j in range(len(values)):
        step = min(highs[j] - lows[j], rest)
        values[j] += step
        rest -= step
    if rest != 0:
        raise ValueError(f"{instrument}: no answers sum to {total}")
    return values
