"""A person's answers in a labels CSV (``dogbreeds app --review``), without a browser."""

from __future__ import annotations

import csv
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dogbreeds.cli.program import main
from dogbreeds.shelter.labeller import csv_row
from dogbreeds.shelter.labels_csv import (
    COLUMNS,
    MIXED_BREED,
    NOT_A_DOG_ANSWER,
    REVIEW_COLUMNS,
    LabelError,
    LabelsTable,
    answer_choices,
    read_finished,
    record_answer,
)
from dogbreeds.shelter.model import ASK_A_HUMAN, LABELLED, NOT_A_DOG, UNREADABLE, Answer
from dogbreeds.shelter.review import VIEWS, review_items

BREEDS = ("Chihuahua", "Shih-Tzu", "dingo")
TOP = (("Shih-Tzu", 0.5), ("Chihuahua", 0.3), ("dingo", 0.2))
WHEN = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)


def labels(folder: Path, count: int = 4) -> Path:
    """A labels CSV of ``count`` photos (not on disk), as `label` writes it: asked, labelled, not a dog, unreadable."""
    answers = [
        Answer(ASK_A_HUMAN, "confidence 0.50 is under 0.73", "Shih-Tzu", 0.5, TOP, 0.9),
        Answer(LABELLED, "=HYPERLINK(x)", "dingo", 0.9, TOP[::-1], 0.99),
        Answer(NOT_A_DOG, "dog probability 0.01", top=TOP, dog_probability=0.01),
        Answer(UNREADABLE, "not an image"),
    ]
    table = LabelsTable()
    table.add(csv_row(folder / f"dog{n}.jpg", answers[n % 4], "abc123def456") for n in range(count))
    out = folder / "labels.csv"
    table.save(out)
    return out


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_an_answer_changes_its_row_only_and_keeps_every_other_cell(tmp_path):
    out = labels(tmp_path)
    before = out.read_text(encoding="utf-8").splitlines()
    file_cell = str(tmp_path / "dog0.jpg")
    written = record_answer(out, file_cell, "Chihuahua", choices=answer_choices(BREEDS), when=WHEN)
    assert written == {
        "checked_by_person": "yes",
        "final_breed": "Chihuahua",
        "checked_at": "2026-12-03T10:30:00+00:00",
    }
    after = out.read_text(encoding="utf-8").splitlines()
    assert after[0] == ",".join((*COLUMNS, *REVIEW_COLUMNS))
    assert after[1] == before[1] + ",yes,Chihuahua,2026-12-03T10:30:00+00:00"
    assert after[2:] == [line + ",,," for line in before[2:]]
    assert "'=HYPERLINK(x)" in after[2]  # still neutralised for a spreadsheet
    # A second answer keeps the first; a person may change an answer later.
    record_answer(out, str(tmp_path / "dog2.jpg"), NOT_A_DOG_ANSWER, when=WHEN)
    record_answer(out, file_cell, MIXED_BREED, when=WHEN)
    rows = rows_of(out)
    assert [row["final_breed"] for row in rows] == [MIXED_BREED, "", NOT_A_DOG_ANSWER, ""]
    assert [row["checked_by_person"] for row in rows] == ["yes", "", "yes", ""]


def test_a_bad_answer_or_a_photo_no_longer_there_changes_nothing(tmp_path):
    out = labels(tmp_path)
    before = out.read_bytes()
    with pytest.raises(LabelError, match="not a breed of the model"):
        record_answer(out, str(tmp_path / "dog0.jpg"), "=cmd()", choices=answer_choices(BREEDS))
    with pytest.raises(LabelError, match="no longer holds a row"):
        record_answer(out, str(tmp_path / "elsewhere.jpg"), "dingo")
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("", "no photos to review"),
        ("name,breed\nrex.jpg,beagle\n", "is not a labels CSV"),
        ("\x00\x01binary", "is not a labels CSV"),
    ],
)
def test_a_file_that_is_not_a_finished_labels_csv_is_refused_untouched(tmp_path, content, message):
    path = tmp_path / "other.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LabelError, match=message):
        read_finished(path)
    with pytest.raises(LabelError, match=message):
        record_answer(path, "rex.jpg", "dingo")
    assert (path.read_text() if content is not None else None) == content


def test_the_app_refuses_a_csv_that_is_not_a_labels_csv_in_one_line(tmp_path, capsys):
    path = tmp_path / "notes.csv"
    path.write_text("name,breed\nrex.jpg,beagle\n")
    assert main(["app", "--review", str(path), "--port", "1"]) != 0  # refused before the address is checked
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a labels CSV" in err and err.startswith("dogbreeds: error:")
    assert path.read_text() == "name,breed\nrex.jpg,beagle\n"


def test_rows_added_since_the_page_opened_are_kept(tmp_path):
    out = labels(tmp_path, 2)
    table = read_finished(out)
    table.add([csv_row(tmp_path / "late.jpg", Answer(LABELLED, "sure", "dingo", 0.9, TOP, 0.9), "abc123def456")])
    table.save(out)  # what a `label` run does meanwhile
    record_answer(out, str(tmp_path / "dog0.jpg"), "dingo")
    assert [Path(row["file"]).name for row in rows_of(out)] == ["dog0.jpg", "dog1.jpg", "late.jpg"]


def test_answers_saved_at_once_from_many_pages_are_all_kept(tmp_path):
    out = labels(tmp_path, 8)
    threads = [
        threading.Thread(target=record_answer, args=(out, str(tmp_path / f"dog{n}.jpg"), "dingo")) for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [row["final_breed"] for row in rows_of(out)] == ["dingo"] * 8


def test_a_csv_saved_as_windows_1252_is_answered_and_kept(tmp_path):
    out = tmp_path / "labels.csv"
    header = ",".join(COLUMNS)
    out.write_bytes(
        f"{header}\n/shelter/caf\xe9.jpg,ask a human,dingo,0.5,dingo (50.0%),0.9,unsure,\n".encode("cp1252")
    )
    record_answer(out, "/shelter/caf\xe9.jpg", "dingo")
    (row,) = rows_of(out)
    assert row["file"] == "/shelter/caf\xe9.jpg" and row["reason"] == "unsure" and row["final_breed"] == "dingo"


def test_the_photos_asked_about_come_first_and_the_box_starts_at_the_best_guess(tmp_path):
    out = labels(tmp_path, 6)
    record_answer(out, str(tmp_path / "dog4.jpg"), "dingo")
    table = read_finished(out)
    asked = review_items(table, VIEWS[0])
    assert [Path(item.path).name for item in asked] == ["dog0.jpg", "dog4.jpg"]
    every = review_items(table, VIEWS[1])
    assert [Path(item.path).name for item in every] == [
        "dog0.jpg",
        "dog4.jpg",
        "dog1.jpg",
        "dog2.jpg",
        "dog3.jpg",
        "dog5.jpg",
    ]
    choices = answer_choices(BREEDS)
    assert [item.guess(choices) for item in every] == ["Shih-Tzu", "dingo", "dingo", NOT_A_DOG_ANSWER, None, "dingo"]
    assert all(item.missing and item.model == "abc123def456" for item in every)


def test_the_pages_save_writes_the_answer_and_says_why_when_it_cannot(tmp_path, shelter_model_factory):
    from dogbreeds.shelter.review import Review

    out = labels(tmp_path)
    review = Review(shelter_model_factory(), out)
    assert "4 photos, 1 *ask a human*, 0 checked by a person" in review.header()
    assert "Another model wrote some rows" in review.header()  # abc123def456 is not the small model
    done, message, header = review.save(str(tmp_path / "dog0.jpg"), "dingo")
    assert "checked: <b>dingo</b>" in done and message == "Saved dog0.jpg: dingo."
    assert "1 checked by a person" in header
    before = out.read_bytes()
    assert review.save(str(tmp_path / "dog1.jpg"), None)[1] == "Pick a breed for dog1.jpg first, then Save."
    assert "not a breed of the model" in review.save(str(tmp_path / "dog1.jpg"), "Beagle")[1]
    assert out.read_bytes() == before
    other = tmp_path / "other.csv"
    other.write_text("a,b\n")
    with pytest.raises(LabelError, match="not a labels CSV"):
        Review(shelter_model_factory(), other)
