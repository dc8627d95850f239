"""How a file's headers are compared with declared names (one rule for the readers and validation).

>>> _header_key("  Participant-ID "), _header_key("participant id")
('participant_id', 'participant_id')
"""

from __future__ import annotations

import re

__all__ = ["_header_key"]


def _header_key(name: str) -> str:
    """How headers are compared: case, surrounding spaces and '-', ' ', '_' do not matter."""
    return re.sub(r"[\s_\-]+", "_", str(name).strip().lower()).strip("_")
