"""Statistical disclosure control for everything a report publishes.

* :mod:`.policy` — :class:`DisclosureControl`, the per-table policy (counts, subgroup estimates,
  Kaplan–Meier risk tables and curves) with its suppression log;
* :mod:`.protected` — :class:`SafeTable`, a table after disclosure control, and :func:`display`;
* :mod:`.solver` — complementary suppression over additive equations;
* :mod:`.identifiers` — identifiers and restricted columns that must never be published;
* :mod:`.keys`, :mod:`.columns`, :mod:`.publication`, :mod:`.protect`, :mod:`.system`,
  :mod:`.manifest` — the report's one publication layer: tables registered with the sets of people
  each count counts, protected together (linear programming over every relation between them),
  and declared in the manifest so :mod:`.audit` can try to break them from the files alone.
"""

from .columns import SD, Count, Free, Label, Linked, Mean, Rounded, Share, Stat
from .identifiers import (ALWAYS_RESTRICTED, find_identifiers, published_identifiers,
                          restricted_columns)
from .policy import LOG_COLUMNS, SUMMARY_COLUMNS, DisclosureControl
from .keys import MISSING_LEVEL, Key, level_code
from .protected import SUPPRESSED, SafeTable, display
from .publication import HIDDEN, ProtectedTable, Publication, too_few
from .system import Bounds, LinearSystem

__all__ = [
    "DisclosureControl",
    "SafeTable",
    "display",
    "find_identifiers",
    "published_identifiers",
    "restricted_columns",
    "LOG_COLUMNS",
    "SUMMARY_COLUMNS",
    "ALWAYS_RESTRICTED",
    "SUPPRESSED",
    "Publication", "ProtectedTable", "HIDDEN", "too_few", "Key", "MISSING_LEVEL", "level_code",
    "Label", "Count", "Rounded", "Share", "Mean", "SD", "Stat", "Linked", "Free",
    "Bounds", "LinearSystem",
]
