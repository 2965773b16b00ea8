"""Tables for the jury: words for headings, formatted numbers, no index and no NaN."""

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from dogbreeds.judge.tables import MISSING, document_table, words


def cells(styler) -> list[list[str]]:
    """The table's rows as printed: the heading row, then each body row."""
    page = BeautifulSoup(styler.to_html(), "html.parser")
    return [[cell.get_text(strip=True) for cell in row.find_all(["th", "td"])] for row in page.find_all("tr")]


def test_code_names_become_words_and_names_in_words_stay():
    assert words("val_top1") == "validation top-1"
    assert words("ms_per_image") == "ms per photo"
    assert words("test_accuracy_std") == "test accuracy (std)"
    assert words("ece") == "ECE"
    assert words("Pillow - OpenCV") == "Pillow - OpenCV"
    assert words("model") == "model"
    assert words("Unnamed: 0") == ""


def test_numbers_are_formatted_missing_values_are_a_dash_and_the_default_index_is_dropped():
    frame = pd.DataFrame(
        {
            "variant": ["baseline", "equalized"],
            "val_top1": [0.8761, np.nan],
            "photos": [12000, 8580],
            "ms_per_image": [1234.5678, 3.0],
            "epochs_run": [30.0, np.nan],  # whole numbers stored as floats because of the NaN
        }
    )
    shown = cells(document_table(frame, percent=["val_top1"]))
    assert shown == [
        ["variant", "validation top-1", "photos", "ms per photo", "epochs run"],
        ["baseline", "87.6%", "12,000", "1,234.57", "30"],
        ["equalized", MISSING, "8,580", "3.00", MISSING],
    ]
    assert "NaN" not in document_table(frame).to_html() and "nan" not in document_table(frame).to_html()


def test_a_named_index_becomes_the_first_column_and_a_caption_titles_the_table():
    frame = pd.DataFrame({"photos": [30, 40]}, index=pd.Index(["beagle", "boxer"], name="breed"))
    styler = document_table(frame, caption="Photos per breed", names={"photos": "photos in the folder"})
    assert cells(styler)[:2] == [["breed", "photos in the folder"], ["beagle", "30"]]
    assert "<caption>Photos per breed</caption>" in styler.to_html()


def test_a_series_keeps_its_labels_as_a_column():
    series = pd.Series({"fewest": 3.0, "imbalance_ratio": 1.96}, name="photos per breed")
    shown = cells(document_table(series))
    assert shown[1:] == [["fewest", "3.00"], ["imbalance_ratio", "1.96"]]


def test_numbers_in_a_column_of_mixed_values_are_formatted_one_by_one():
    totals = pd.Series({"photos": 20580, "median": 30.0, "ratio": 1.956, "per breed": "148-252"}, name="published")
    shown = cells(document_table(totals.rename_axis("Stanford Dogs")))
    assert shown[1:] == [["photos", "20,580"], ["median", "30"], ["ratio", "1.96"], ["per breed", "148-252"]]


def test_an_unknown_percent_column_is_refused():
    with pytest.raises(KeyError, match="percent names columns"):
        document_table(pd.DataFrame({"a": [0.5]}), percent=["b"])
