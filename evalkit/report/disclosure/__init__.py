"""Statistical disclosure control for everything a report publishes.

* :mod:`.policy` — :class:`DisclosureControl`, the per-table policy (counts, subgroup estimates,
  Kaplan–Meier risk tables and curves) with its suppression log;
* :mod:`.protected` — :class:`SafeTable`, a table after disclosure control, and :func:`display`;
* :mod:`.solver` — complementary suppression over additive equations;
* :mod:`.identifiers` — identifiers and restricted columns that must never be published.
"""

from .identifiers import ALWAYS_RESTRICTED, find_identifiers, restricted_columns
from .policy import LOG_COLUMNS, SUMMARY_COLUMNS, DisclosureControl
from .protected import SUPPRESSED, SafeTable, display

__all__ = [
    "DisclosureControl",
    "SafeTable",
    "display",
    "find_identifiers",
    "restricted_columns",
    "LOG_COLUMNS",
    "SUMMARY_COLUMNS",
    "ALWAYS_RESTRICTED",
    "SUPPRESSED",
]
