"""``dogbreeds app --review labels.csv``: a person settles what the model asked about.

The page lists the photos of a finished labels CSV, the "ask a human" ones first, as cards
(thumbnail, file name, the model's top 3 with percentages, the reason, the model that wrote the
row), a page at a time. For each photo a person picks one of the model's breeds (the box starts at
the model's best guess), "mixed or unknown breed" or "not a dog", and saves: the answer goes into the
CSV's columns ``checked_by_person``, ``final_breed`` and ``checked_at`` through
:func:`labels_csv.record_answer` (the file reread, that row changed, the whole file replaced
atomically). A photo that is gone from disk shows as missing. The listing (:func:`review_items`)
needs no Gradio; :func:`build_review` is the page.
"""

from __future__ import annotations

import functools
import html
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogbreeds.shelter.labels_csv import (
    MODEL_COLUMN,
    NOT_A_DOG_ANSWER,
    LabelError,
    LabelsTable,
    answer_choices,
    read_finished,
    record_answer,
    restore,
    unescape_name,
)
from dogbreeds.shelter.model import ASK_A_HUMAN, NOT_A_DOG, ShelterModel

VIEWS = ("ask a human", "all (ask a human first)")
PAGE_SIZE = 24
REVIEW_CSS = """
.review-cards {flex-wrap: wrap !important; gap: 12px;}
.review-card {flex: 0 0 260px !important; max-width: 260px; border: 1px solid #ddd; border-radius: 8px; padding: 8px;}
.review-card img {width: 100%; border-radius: 4px;}
.review-card .name {font-size: 12px; overflow-wrap: anywhere; font-weight: 600;}
.review-card .top, .review-card .reason, .review-card .model {font-size: 12px;}
.review-card .missing {color: #b3261e; font-weight: 600; overflow-wrap: anywhere;}
"""


@dataclass(frozen=True)
class ReviewItem:
    """One row of the CSV as the page shows it; ``file_cell`` is the row's ``file`` cell as the CSV spells it."""

    file_cell: str
    status: str
    breed: str
    top_3: str
    reason: str
    model: str
    final_breed: str
    checked_at: str

    @property
    def path(self) -> str:
        return unescape_name(restore(self.file_cell))

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def missing(self) -> bool:
        return not os.path.isfile(self.path)

    def guess(self, choices: Sequence[str]) -> str | None:
        """What the answer box starts at: the person's answer, else "not a dog", else the model's best breed."""
        best = self.breed or self.top_3.split("; ")[0].rsplit(" (", 1)[0]
        for candidate in (self.final_breed, NOT_A_DOG_ANSWER if self.status == NOT_A_DOG else "", best):
            if candidate in choices:
                return candidate
        return None


def review_items(table: LabelsTable, view: str = VIEWS[0]) -> list[ReviewItem]:
    """The rows to show: the "ask a human" ones in the CSV's order, then (for the view "all") the others."""
    position = table.columns.index("file")
    columns = ("status", "breed", "top_3", "reason", MODEL_COLUMN, "final_breed", "checked_at")
    cells = {name: table.cells(name) if name in table.columns else [""] * len(table.rows) for name in columns}
    items = [
        ReviewItem(row[position], *(cells[name][number] for name in columns)) for number, row in enumerate(table.rows)
    ]
    asked = [item for item in items if item.status == ASK_A_HUMAN]
    return asked if view == VIEWS[0] else asked + [item for item in items if item.status != ASK_A_HUMAN]


def review_card(item: ReviewItem, thumbnail: str | None) -> str:
    """The card's HTML above its answer box: thumbnail (or "photo missing"), name, status, top 3, reason, model."""
    parts = [f'<div class="review-photo" data-file="{html.escape(item.path)}">']
    if thumbnail:
        parts.append(f'<img alt="{html.escape(item.name)}" src="data:image/jpeg;base64,{thumbnail}">')
    else:
        why = "photo missing" if item.missing else "photo unreadable"
        parts.append(f'<div class="missing">{why}: {html.escape(item.path)}</div>')
    parts.append(f'<div class="name">{html.escape(item.name)}</div>')
    parts.append(f'<div class="status">{html.escape(item.status)}</div>')
    parts += [f'<div class="top">{html.escape(top)}</div>' for top in item.top_3.split("; ") if top]
    parts.append(f'<div class="reason">{html.escape(item.reason)}</div>')
    parts.append(f'<div class="model">model {html.escape(item.model or "(not recorded)")}</div></div>')
    return "".join(parts)


def checked_text(final_breed: str, checked_at: str) -> str:
    """The line under a card's Save button: the person's answer, or that there is none yet."""
    if not final_breed:
        return '<div class="checked">not checked yet</div>'
    return f'<div class="checked">checked: <b>{html.escape(final_breed)}</b> ({html.escape(checked_at)})</div>'


def unchanged() -> dict[str, str]:
    """What an event returns for a component it leaves as it is (what ``gr.update()`` returns)."""
    return {"__type__": "update"}


class Review:
    """The review page's actions on one CSV (the CSV is read again for each listing and each answer)."""

    def __init__(self, model: ShelterModel, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.model = model
        self.choices = answer_choices(model.breed_names)
        read_finished(self.path)  # LabelError, before the app starts, when it is no labels CSV

    def header(self) -> str:
        table = read_finished(self.path)
        items = review_items(table, VIEWS[1])
        asked = sum(item.status == ASK_A_HUMAN for item in items)
        checked = sum(bool(item.final_breed) for item in items)
        models = sorted({item.model or "(not recorded)" for item in items})
        text = (
            f"# Check the photos the model asked about\n`{self.path}`: {len(items)} photos, {asked} *ask a human*, "
            f"{checked} checked by a person. Rows written by model {', '.join(models)}; the breeds offered are "
            f"model {self.model.model_id}'s."
        )
        if set(models) - {self.model.model_id}:
            text += " **Another model wrote some rows**: start the app with its `--model` to offer its breeds."
        return text + "".join(f"\n\nNote: {note}." for note in table.notes)

    def save(self, file_cell: str, answer: str | None) -> tuple[Any, str, Any]:
        """(the card's checked line, the page's message, the header) after saving ``answer`` for the photo
        ``file_cell``; when nothing was saved the card's line and the header are left as they are.
        """
        name = html.escape(Path(unescape_name(restore(file_cell))).name)
        if not answer:
            return unchanged(), f"Pick a breed for {name} first, then Save.", unchanged()
        try:
            written = record_answer(self.path, file_cell, answer, choices=self.choices)
        except LabelError as error:
            return unchanged(), f"Not saved: {html.escape(str(error))}", unchanged()
        done = checked_text(answer, written["checked_at"])
        return done, f"Saved {name}: {html.escape(answer)}.", self.header()


def build_review(model: ShelterModel, path: str | os.PathLike) -> Any:
    """The Gradio Blocks of the review page (LabelError first when ``path`` is no labels CSV)."""
    import gradio as gr

    from dogbreeds.shelter.app import thumbnail_of

    review = Review(model, path)
    with gr.Blocks(title="dogbreeds: check the labels", analytics_enabled=False) as app:
        header = gr.Markdown(review.header(), elem_id="review-header")
        with gr.Row():
            view = gr.Radio(list(VIEWS), value=VIEWS[0], label="Show", elem_id="review-view")
            page = gr.Number(value=1, minimum=1, precision=0, label="Page", elem_id="review-page")
        message = gr.HTML(elem_id="review-message")

        @gr.render(inputs=[view, page])
        def grid(view_value: str, page_value: float | None) -> None:
            try:
                items = review_items(read_finished(review.path), view_value)
            except LabelError as error:
                gr.Markdown(f"Cannot read the CSV: {error}")
                return
            pages = max(1, math.ceil(len(items) / PAGE_SIZE))
            number = min(max(1, int(page_value or 1)), pages)
            gr.Markdown(f"{len(items)} photos; page {number} of {pages}.", elem_id="review-count")
            with gr.Row(elem_classes="review-cards"):
                for item in items[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]:
                    with gr.Column(elem_classes="review-card", min_width=240):
                        gr.HTML(review_card(item, thumbnail_of(item.path)))
                        answer = gr.Dropdown(
                            review.choices,
                            value=item.guess(review.choices),
                            label="Breed",
                            interactive=True,
                            elem_classes="answer",
                        )
                        save = gr.Button("Save", size="sm", elem_classes="save")
                        done = gr.HTML(checked_text(item.final_breed, item.checked_at), elem_classes="done")
                        save.click(
                            functools.partial(review.save, item.file_cell),
                            inputs=answer,
                            outputs=[done, message, header],
                        )

    return app
