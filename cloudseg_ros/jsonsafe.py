"""Reports as strict JSON: no NaN or infinity (unknown numbers become null), no numpy types.

Python's json writes NaN as a bare ``NaN`` by default, which jq, JavaScript and other strict
parsers refuse; one helper for every report this package writes.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """``value`` with dict keys as strings, tuples as lists, numpy scalars as Python numbers and
    non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`json_safe` (refuses any NaN that would still get through)."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
