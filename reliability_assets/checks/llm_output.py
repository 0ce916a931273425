"""Grounding: every number an LLM-written text cites must be a figure of the data it was given.

A number is grounded when some source figure, printed at the precision the text used, gives the same
digits: "$3,901,064" and "$3.9M" match 3901063.7; "75.9%" matches a share of 0.7589. Candidates are the
table's numeric cells, their shares as percentages, each row's ratios of one column to another (e.g.
active / customers), and the context constants the prompt states (the reporting windows).
"""

import math
import re
from collections.abc import Iterable

import pandas as pd

NUMBER = re.compile(r"(?<![\w.])\$?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%|[kKmMbB](?![A-Za-z]))?(?![\w.]*\d)")
SCALE = {"k": 1e3, "m": 1e6, "b": 1e9}
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")  # dates are not cited figures
CONTEXT_CONSTANTS = (12, 90, 365)  # months and days the KPI windows are named by


def _candidates(table: pd.DataFrame) -> list[float]:
    numeric = table.select_dtypes("number")
    values = [float(v) for v in numeric.to_numpy().ravel() if pd.notna(v)]
    ratios = []
    for row in numeric.to_numpy():
        ratios += [a / b for a in row for b in row if b]
    return values + ratios + list(CONTEXT_CONSTANTS)


def _matches(cited: float, decimals: int, percent: bool, candidates: Iterable[float]) -> bool:
    tolerance = 0.5 * 10**-decimals + 1e-9
    for value in candidates:
        for scaled in (value * 100, value) if percent else (value,):
            if abs(scaled - cited) <= tolerance:
                return True
    return False


def ungrounded_numbers(text: str, table: pd.DataFrame) -> tuple[list[str], int]:
    """The numbers in ``text`` that no figure of ``table`` explains, and how many numbers were cited."""
    candidates = _candidates(table)
    missing, cited = [], 0
    for match in NUMBER.finditer(DATE.sub(" ", text)):
        whole, fraction, suffix = match.groups()
        cited += 1
        scale = SCALE.get((suffix or "").lower(), 1.0)
        decimals = len(fraction) - 1 if fraction else 0
        value = float(whole.replace(",", "") + (fraction or "")) * scale
        if not _matches(value, decimals - round(math.log10(scale)), suffix == "%", candidates):
            missing.append(match.group(0))
    return missing, cited
