"""Deprecated names, accepted for one release: the one helper every public function uses.

:func:`renamed` lets a function keep taking an old keyword for one release: the value is passed on
under the new name and an :class:`~evalkit.errors.EvalkitDeprecationWarning` names the replacement.
A pair of new names unpacks an old two-value argument (``waves=("baseline", "end")`` becomes
``baseline_wave="baseline", end_wave="end"``). :func:`warn_deprecated` is for an old *form* of a
value (not a name).

Examples
--------
>>> import warnings
>>> from evalkit._compat import renamed
>>> @renamed(group="by")
... def means(data, *, by=None):
...     return by
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     means(None, group="site")
'site'
>>> print(caught[0].message)
means(): group= is deprecated and will be removed in evalkit 0.3; use by= instead
>>> means(None, group="site", by="site")
Traceback (most recent call last):
...
TypeError: means() got both group= (deprecated) and by=; use by= only
"""

from __future__ import annotations

import functools
import inspect
import warnings

from ._vocabulary import RENAMED
from .errors import EvalkitDeprecationWarning

__all__ = ["renamed", "warn_deprecated", "REMOVED_IN"]

#: The release in which deprecated names stop working.
REMOVED_IN = "0.3"


def warn_deprecated(message: str, *, stacklevel: int = 3) -> None:
    """Warn with :class:`EvalkitDeprecationWarning` (``stacklevel`` 3: the caller's caller)."""
    warnings.warn(f"{message} (deprecated; removed in evalkit {REMOVED_IN})",
                  EvalkitDeprecationWarning, stacklevel=stacklevel)


def renamed(**old_to_new):
    """Decorator: accept each ``old=`` keyword as its new name (a str, or a pair of names to unpack
    a two-value argument into), warning once per call with :class:`EvalkitDeprecationWarning`."""

    def decorate(func):
        params = inspect.signature(func).parameters
        for old, new in old_to_new.items():
            targets = (new,) if isinstance(new, str) else tuple(new)
            missing = [t for t in targets if t not in params]
            if missing or old in params:
                raise TypeError(f"renamed({old}={new!r}) does not fit {func.__qualname__}")
        name = func.__name__

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old in old_to_new.keys() & kwargs.keys():
                new = old_to_new[old]
                value = kwargs.pop(old)
                targets = (new,) if isinstance(new, str) else tuple(new)
                clash = [t for t in targets if t in kwargs]
                use = ", ".join(f"{t}=" for t in targets)
                if clash:
                    raise TypeError(f"{name}() got both {old}= (deprecated) and {clash[0]}=; use "
                                    f"{use} only")
                if isinstance(new, str):
                    kwargs[new] = value
                else:
                    try:
                        values = tuple(value)
                    except TypeError:
                        values = ()
                    if len(values) != len(targets):
                        raise TypeError(f"{name}(): {old}= must hold {len(targets)} values "
                                        f"({use}); better, pass {use} directly")
                    kwargs.update(zip(targets, values))
                warnings.warn(f"{name}(): {old}= is deprecated and will be removed in evalkit "
                              f"{REMOVED_IN}; use {use} instead", EvalkitDeprecationWarning,
                              stacklevel=2)
            return func(*args, **kwargs)

        wrapper.__renamed__ = dict(old_to_new)
        RENAMED[f"{func.__module__}.{func.__qualname__}"] = dict(old_to_new)
        return wrapper

    return decorate
