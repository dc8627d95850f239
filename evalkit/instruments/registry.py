"""The instrument registry: one declarative YAML file per instrument in ``specs/``.

Adding an instrument is adding one file (or calling :func:`register` with a path or a mapping).

Examples
--------
>>> import evalkit as ek
>>> "epds" in ek.instruments.available()
True
>>> spec = ek.instruments.get("epds")
>>> spec.items.reverse
(3, 5, 6, 7, 8, 9, 10)
>>> spec.scale("epds_3a").items
(3, 4, 5)
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from ..errors import SpecificationError, UnknownNameError
from .spec import Instrument

__all__ = ["available", "get", "register", "SPEC_DIR"]

SPEC_DIR = Path(__file__).parent / "specs"
_EXTRA: dict[str, Instrument] = {}


def _load(path: Path) -> Instrument:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Instrument.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise SpecificationError(f"instrument spec {path.name} is invalid:\n" + "\n".join(lines)) from None
    except yaml.YAMLError as exc:
        raise SpecificationError(f"instrument spec {path.name} is not valid YAML: {exc}") from None


@lru_cache(maxsize=1)
def _builtin() -> dict[str, Instrument]:
    specs = {}
    for path in sorted(SPEC_DIR.glob("*.yaml")):
        spec = _load(path)
        if spec.id != path.stem:
            raise SpecificationError(f"instrument spec {path.name} declares id {spec.id!r}; "
                                     f"name the file {spec.id}.yaml")
        specs[spec.id] = spec
    return specs


def available() -> list[str]:
    """Ids of every registered instrument, sorted."""
    return sorted({**_builtin(), **_EXTRA})


def get(instrument: str | Instrument) -> Instrument:
    """The spec of ``instrument``; an unknown id raises an error listing the registered ones."""
    if isinstance(instrument, Instrument):
        return instrument
    key = str(instrument).lower()
    found = _EXTRA.get(key) or _builtin().get(key)
    if found is None:
        raise UnknownNameError(f"instrument {instrument!r} is not registered; available: "
                               f"{', '.join(available())}")
    return found


def register(spec: str | Path | Mapping | Instrument, *, replace: bool = False) -> Instrument:
    """Add an instrument from a YAML path, a mapping or an :class:`Instrument`; returns the spec."""
    if isinstance(spec, Instrument):
        inst = spec
    elif isinstance(spec, Mapping):
        try:
            inst = Instrument.model_validate(dict(spec))
        except ValidationError as exc:
            raise SpecificationError(f"instrument spec is invalid: {exc}") from None
    else:
        inst = _load(Path(spec))
    if not replace and inst.id in available():
        raise SpecificationError(f"instrument {inst.id!r} is already registered; pass replace=True "
                                 "to override it")
    _EXTRA[inst.id] = inst
    return inst
