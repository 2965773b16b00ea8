"""``dogbreeds app``: the shelter's web app (Gradio), offline, on this computer only by default.

Drop one or many photos and press "Label the photos": each photo gets a card with its
status, its top 3 breeds with confidence bars and the reason; the batch downloads as the
same CSV as ``dogbreeds label``. "Show Grad-CAM" overlays where the model looked on one
photo. A file that is not a usable image gets a message in the page; the app keeps serving.

Nothing leaves the machine: Gradio's analytics are off, the theme uses the system's
fonts (no web fonts), and the server listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import base64
import csv
import functools
import html
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from dogbreeds.data.images import load_upright  # noqa: E402
from dogbreeds.judge.heatmaps import overlay_heatmap  # noqa: E402
from dogbreeds.shelter.labeller import COLUMNS, csv_row  # noqa: E402
from dogbreeds.shelter.model import (  # noqa: E402
    ASK_A_HUMAN,
    LABELLED,
    NOT_A_DOG,
    UNREADABLE,
    Answer,
    ShelterModel,
    photo_views,
)

MAX_FILE_SIZE = "25mb"
THUMBNAIL = 220
STATUS_COLOURS = {LABELLED: "#1b7f3b", ASK_A_HUMAN: "#b26a00", NOT_A_DOG: "#5b5b5b", UNREADABLE: "#b3261e"}
CSS = """
.cards {display: flex; flex-wrap: wrap; gap: 12px;}
.card {width: 250px; border: 1px solid #ddd; border-radius: 8px; padding: 10px; background: #fff; color: #222;}
.card img {width: 100%; border-radius: 4px;}
.card .name {font-size: 12px; color: #555; overflow-wrap: anywhere;}
.card .status {display: inline-block; color: #fff; border-radius: 4px; padding: 1px 8px; font-weight: 600;}
.card .bar {background: #eee; border-radius: 3px; height: 10px; margin: 1px 0 5px 0;}
.card .bar div {background: #2f6fb3; height: 10px; border-radius: 3px;}
.card .reason {font-size: 12px; color: #555;}
"""


def theme() -> gr.themes.Base:
    """Gradio's default look with the system's fonts, so that the page fetches nothing from the web."""
    return gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def card(name: str, answer: Answer, thumbnail: str | None) -> str:
    """One photo's result as an HTML card: thumbnail, status, top-3 bars, reason."""
    colour = STATUS_COLOURS[answer.status]
    parts = [f'<div class="card" data-status="{html.escape(answer.status)}">']
    if thumbnail:
        parts.append(f'<img alt="{html.escape(name)}" src="data:image/jpeg;base64,{thumbnail}">')
    parts.append(f'<div class="name">{html.escape(name)}</div>')
    parts.append(f'<span class="status" style="background:{colour}">{html.escape(answer.status)}</span>')
    if answer.status in (LABELLED, ASK_A_HUMAN):
        prefix = "" if answer.status == LABELLED else "best guess: "
        parts.append(f'<div class="breed">{prefix}<b>{html.escape(answer.breed or "")}</b></div>')
    for breed, probability in answer.top:
        parts.append(
            f'<div class="top">{html.escape(breed)} {probability:.1%}</div>'
            f'<div class="bar"><div style="width:{probability * 100:.1f}%"></div></div>'
        )
    parts.append(f'<div class="reason">{html.escape(answer.reason)}</div></div>')
    return "".join(parts)


def thumbnail_of(path: str | os.PathLike) -> str | None:
    """A small JPEG of the photo, base64-encoded, or None when it cannot be read."""
    try:
        image = load_upright(path)
    except Exception:  # the card then shows no picture; the answer says why the file is unusable
        return None
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class ShelterApp:
    """The app's actions on one model (kept apart from Gradio so that they can be tested directly)."""

    def __init__(self, model: ShelterModel) -> None:
        self.model = model
        self.out_dir = Path(tempfile.mkdtemp(prefix="dogbreeds-app-"))

    def label(self, paths: Sequence[str] | None) -> tuple[str, str, str | None, Any, list[str]]:
        """(messages, cards HTML, CSV path, Grad-CAM choices update, paths) for the uploaded files."""
        paths = [str(path) for path in (paths or [])]
        if not paths:
            return "Drop one or more photos first.", "", None, gr.update(choices=[], value=None), []
        answers = self.model.classify_files(paths)
        names = [Path(path).name for path in paths]
        problems = [
            f"- **{html.escape(name)}**: {html.escape(answer.reason)}"
            for name, answer in zip(names, answers)
            if answer.status == UNREADABLE
        ]
        counts = {status: sum(answer.status == status for answer in answers) for status in STATUS_COLOURS}
        summary = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
        messages = f"{len(paths)} photo(s): {summary}."
        if problems:
            messages += "\n\nThese files could not be used:\n" + "\n".join(problems)
        cards = "".join(
            card(name, answer, thumbnail_of(path) if answer.status != UNREADABLE else None)
            for name, path, answer in zip(names, paths, answers)
        )
        csv_path = self.out_dir / "labels.csv"
        with open(csv_path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(csv_row(name, answer) for name, answer in zip(names, answers))
        readable = [name for name, answer in zip(names, answers) if answer.status != UNREADABLE]
        choices = gr.update(choices=readable, value=readable[0] if readable else None)
        return messages, f'<div class="cards">{cards}</div>', str(csv_path), choices, paths

    def gradcam(self, name: str | None, paths: Sequence[str]) -> tuple[np.ndarray | None, str]:
        """(overlay image, caption) of the photo called ``name`` among the labelled ``paths``."""
        matches = [path for path in paths if Path(path).name == name]
        if not matches:
            return None, "Label some photos first, then pick one."
        try:
            image = load_upright(matches[0])
        except Exception as error:  # noqa: BLE001 - shown to the user, the app keeps serving
            return None, f"{name}: {error}"
        view = photo_views(image, ["full"], self.model.config.image_size)[0]
        heatmap = self._gradcam.heatmap(view)
        probabilities = self._gradcam.model.predict_on_batch(view[None])[0]
        breed = self.model.breed_names[int(np.argmax(probabilities))]
        return overlay_heatmap(view.astype(np.uint8), heatmap), f"Where the model looked to call it {breed}."

    @functools.cached_property
    def _gradcam(self) -> Any:
        from dogbreeds.models.gradcam import GradCam

        return GradCam(self.model.keras_classifier())


def build_app(model: ShelterModel) -> gr.Blocks:
    """The Gradio Blocks of the app (launch it with :func:`serve`)."""
    actions = ShelterApp(model)
    with gr.Blocks(title="dogbreeds: label shelter photos", analytics_enabled=False) as app:
        gr.Markdown(
            "# Which breed is this dog?\nDrop one or many photos, then press **Label the photos**. "
            "Each photo gets its three most likely breeds (of 120), or *ask a human* when the model is "
            "not sure enough, or *not a dog*."
        )
        files = gr.File(label="Photos", file_count="multiple", type="filepath", elem_id="photos")
        run = gr.Button("Label the photos", variant="primary", elem_id="label-button")
        messages = gr.Markdown(elem_id="messages")
        cards = gr.HTML(elem_id="results")
        download = gr.File(label="Download the labels (CSV)", interactive=False, elem_id="csv")
        with gr.Row():
            choice = gr.Dropdown(label="Grad-CAM for", choices=[], elem_id="gradcam-choice")
            explain = gr.Button("Show Grad-CAM", elem_id="gradcam-button")
        caption = gr.Markdown(elem_id="gradcam-caption")
        overlay = gr.Image(label="Grad-CAM overlay", interactive=False, elem_id="gradcam")
        uploaded = gr.State([])
        run.click(actions.label, inputs=files, outputs=[messages, cards, download, choice, uploaded])
        explain.click(actions.gradcam, inputs=[choice, uploaded], outputs=[overlay, caption])
    return app


def serve(model: ShelterModel, *, host: str = "127.0.0.1", port: int = 7860, block: bool = True) -> gr.Blocks:
    """Start the app on ``host``:``port``; with ``block=False`` return at once (the server runs in a thread)."""
    app = build_app(model)
    app.launch(
        server_name=host,
        server_port=port,
        theme=theme(),
        css=CSS,
        max_file_size=MAX_FILE_SIZE,
        prevent_thread_lock=not block,
        show_error=True,
        inbrowser=False,
        quiet=not block,
    )
    return app
