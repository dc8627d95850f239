"""Questionnaire instruments: declarative specs and the registry (``ek.instruments``)."""

from .registry import SPEC_DIR, available, get, register
from .spec import Instrument

__all__ = ["available", "get", "register", "Instrument", "SPEC_DIR"]
