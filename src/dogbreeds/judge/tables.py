"""Tables for the jury: column names in words, numbers formatted, no index, no NaN.

:func:`document_table` turns a DataFrame into a styled table a notebook displays and the
report prints as it is: a default (0, 1, 2, ...) index is dropped, a meaningful one becomes the
first column, code names (``val_top1``) become words (validation top-1), shares become
percentages, counts get thousands separators and a missing value an empty dash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

MISSING = "—"
_TOKENS = {
    "val": "validation",
    "top1": "top-1",
    "top5": "top-5",
    "f1": "F1",
    "ece": "ECE",
    "mce": "MCE",
    "std": "(std)",
    "n": "number of",
    "num": "number of",
    "pct": "%",
}
_NAMES = {
    "n": "photos",
    "n_kept": "photos kept",
    "ms_per_image": "ms per photo",
    "time_ratio": "time ratio (Pillow = 1)",
    "val_top1": "validation top-1",
}
_CODE_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


def words(name: object) -> str:
    """A column name in words: ``val_top1`` -> validation top-1, ``ms_per_image`` -> ms per photo.

    A name that is not a code name (spaces, capitals) is kept as written; ``Unnamed: 0``, what
    pandas calls a column without a name, becomes an empty heading.
    """
    text = str(name)
    if text.startswith("Unnamed:"):
        return ""
    if text in _NAMES:
        return _NAMES[text]
    if not _CODE_NAME.match(text) or "_" not in text and text not in _TOKENS:
        return text
    return " ".join(_TOKENS.get(token, token) for token in text.split("_"))


def document_table(
    frame: pd.DataFrame | pd.Series,
    percent: Iterable[str] = (),
    decimals: int | Mapping[str, int] = 2,
    names: Mapping[str, str] | None = None,
    caption: str | None = None,
) -> Styler:
    """``frame`` as a table for the report (a pandas Styler: notebooks display it, the report prints it).

    ``percent`` names the columns holding shares (0.876 -> 87.6%); ``decimals`` the digits of the
    other non-integer columns (one number, or per column); ``names`` overrides the words of
    some columns; ``caption`` titles the table. Whole numbers get thousands separators
    (12,000) and a missing value shows as an em dash.
    """
    table = _with_index_as_column(frame.to_frame() if isinstance(frame, pd.Series) else frame)
    table.columns = [str(column) for column in table.columns]
    percent = {str(column) for column in percent}
    unknown = percent - set(table.columns)
    if unknown:
        raise KeyError(f"percent names columns the table does not have: {sorted(unknown)}; it has {list(table)}.")
    formats = {column: _format_for(table[column], column in percent, decimals, column) for column in table.columns}
    renamed = {column: (names or {}).get(column, words(column)) for column in table.columns}
    headings = _unique(renamed.values())
    shown = table.rename(columns=dict(zip(renamed, headings)))
    styler = shown.style.format(
        {heading: formats[column] for column, heading in zip(renamed, headings)}, na_rep=MISSING
    ).hide(axis="index")
    return styler.set_caption(caption) if caption else styler


def _with_index_as_column(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without its index when it is the default 0..n-1, with it as the first column otherwise."""
    index = frame.index
    default = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None
    if default and index.nlevels == 1:
        return frame.reset_index(drop=True)
    names = [name if name is not None else "" for name in index.names]
    if len(set(names)) < len(names):
        names = [name or f"level {level + 1}" for level, name in enumerate(names)]
    return frame.rename_axis(names).reset_index()


def _format_for(column: pd.Series, percent: bool, decimals: int | Mapping[str, int], name: str):
    """A formatter for one column's values (a callable; None for text)."""
    digits = decimals.get(name, 2) if isinstance(decimals, Mapping) else decimals
    if pd.api.types.is_bool_dtype(column):
        return None
    if not pd.api.types.is_numeric_dtype(column):  # mixed values: numbers formatted one by one, text kept
        return lambda value: _number(value, digits) if _is_number(value) else value
    if percent:
        return lambda value: f"{value:.1%}"
    values = column.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 1e15):
        return lambda value: f"{value:,.0f}"
    return lambda value: f"{value:,.{digits}f}"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _number(value: float, digits: int) -> str:
    """A whole number with thousands separators (12,000), any other with ``digits`` decimals."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.{digits}f}"


def _unique(headings: Iterable[str]) -> list[str]:
    """Headings made unique (a Styler needs distinct column names) by numbering repeats."""
    seen: dict[str, int] = {}
    unique = []
    for heading in headings:
        seen[heading] = seen.get(heading, 0) + 1
        unique.append(heading if seen[heading] == 1 else f"{heading} ({seen[heading]})")
    return unique
