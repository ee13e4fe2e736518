"""The cadastral number format of Uzbekistan, in one place.

Parcels: ``AA:BB:CC:DD:EE:FFFF`` (region, district, zone, massiv, mavze, plot); a building adds
``:GGGG``. The database enforces the same patterns (migration 0001) with its own messages.
"""

from __future__ import annotations

import re

PARCEL_NUMBER = re.compile(r"^[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{4}$")
"""A parcel's cadastral number, e.g. 10:09:03:01:01:0045."""

BUILDING_NUMBER = re.compile(r"^[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{4}:[0-9]{4}$")
"""A building's cadastral number, e.g. 10:09:03:01:01:0045:0001."""
