"""``dogbreeds app``: the shelter's web app (Gradio), offline, on this computer only by default.

Drop one or many photos and press "Label the photos": each photo gets a card with its
status, its top 3 breeds with confidence bars and the reason; the batch downloads as the
same CSV as ``dogbreeds label``. "Show Grad-CAM" overlays where the model looked on one
photo. A file that is not a usable image gets a message in the page; the app keeps serving.
Two uploads with the same file name are shown as "rex.jpg" and "rex (2).jpg". A request
decodes at most ``MAX_PIXELS_PER_REQUEST`` pixels of at most ``MAX_PHOTOS_PER_REQUEST``
photos (headers are checked first); a photo over a cap gets a message instead.
``dogbreeds app --review labels.csv`` serves instead the page where a person checks a finished
CSV's photos (:mod:`dogbreeds.shelter.review`).

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

from dogbreeds.data.images import ImageLoadError, load_upright, open_image  # noqa: E402
from dogbreeds.judge.heatmaps import overlay_heatmap  # noqa: E402
from dogbreeds.shelter.app_access import AppStartError  # noqa: E402
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
MAX_PHOTOS_PER_REQUEST = 100
MAX_PIXELS_PER_REQUEST = 300_000_000  # decoded at once: about 0.9 GB as RGB (25 photos of 12 megapixels)
AGAIN = "per request: label it in another batch, or with `dogbreeds label`"
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


def unique_names(paths: Sequence[str]) -> list[str]:
    """Each upload's displayed name: its file name, or for a repeat "rex (2).jpg", "rex (3).jpg"..."""
    names: list[str] = []
    for path in paths:
        stem, suffix = Path(path).stem, Path(path).suffix
        name, count = Path(path).name, 1
        while name in names:
            count += 1
            name = f"{stem} ({count}){suffix}"
        names.append(name)
    return names


def over_the_caps(paths: Sequence[str]) -> dict[int, Answer]:
    """An "unreadable" answer, by position, for each photo over the request's caps (or with an unusable header).

    Only headers are read: a photo whose pixels would take the request past ``MAX_PIXELS_PER_REQUEST``,
    and every photo after the first ``MAX_PHOTOS_PER_REQUEST``, is refused before anything is decoded.
    """
    refused, pixels = {}, 0
    for position, path in enumerate(paths):
        if position >= MAX_PHOTOS_PER_REQUEST:
            refused[position] = Answer(UNREADABLE, f"over the cap of {MAX_PHOTOS_PER_REQUEST} photos {AGAIN}")
            continue
        try:
            with open_image(path) as image:
                width, height = image.size
        except ImageLoadError as error:
            refused[position] = Answer(UNREADABLE, error.reason)
            continue
        if pixels + width * height > MAX_PIXELS_PER_REQUEST:
            refused[position] = Answer(
                UNREADABLE,
                f"{width}x{height} ({width * height / 1e6:.1f} megapixels) takes the request over the cap "
                f"of {MAX_PIXELS_PER_REQUEST / 1e6:.0f} megapixels {AGAIN}",
            )
        else:
            pixels += width * height
    return refused


def summary_of(names: Sequence[str], answers: Sequence[Answer]) -> str:
    """The messages above the cards: counts by status, then each unusable file and why."""
    counts = {status: sum(answer.status == status for answer in answers) for status in STATUS_COLOURS}
    messages = f"{len(names)} photo(s): " + ", ".join(f"{n} {status}" for status, n in counts.items() if n) + "."
    problems = [
        f"- **{html.escape(name)}**: {html.escape(answer.reason)}"
        for name, answer in zip(names, answers)
        if answer.status == UNREADABLE
    ]
    if problems:
        messages += "\n\nThese files could not be used:\n" + "\n".join(problems)
    return messages


class ShelterApp:
    """The app's actions on one model (kept apart from Gradio so that they can be tested directly)."""

    def __init__(self, model: ShelterModel) -> None:
        self.model = model
        self.out_dir = Path(tempfile.mkdtemp(prefix="dogbreeds-app-"))

    def label(self, paths: Sequence[str] | None) -> tuple[str, str, str | None, Any, dict[str, str]]:
        """(messages, cards HTML, CSV path, Grad-CAM choices update, displayed name -> path) for the uploads."""
        paths = [str(path) for path in (paths or [])]
        if not paths:
            return "Drop one or more photos first.", "", None, gr.update(choices=[], value=None), {}
        names, answers = unique_names(paths), self.answers(paths)
        cards = "".join(
            card(name, answer, thumbnail_of(path) if answer.status != UNREADABLE else None)
            for name, path, answer in zip(names, paths, answers)
        )
        readable = [name for name, answer in zip(names, answers) if answer.status != UNREADABLE]
        choices = gr.update(choices=readable, value=readable[0] if readable else None)
        csv_path = self.write_csv(names, answers)
        return (
            summary_of(names, answers),
            f'<div class="cards">{cards}</div>',
            csv_path,
            choices,
            dict(zip(names, paths)),
        )

    def answers(self, paths: Sequence[str]) -> list[Answer]:
        """The model's answer for each photo within the request's caps, the refusal for the others."""
        refused = over_the_caps(paths)
        admitted = [path for position, path in enumerate(paths) if position not in refused]
        answers = iter(self.model.classify_files(admitted) if admitted else [])
        return [refused[position] if position in refused else next(answers) for position in range(len(paths))]

    def write_csv(self, names: Sequence[str], answers: Sequence[Answer]) -> str:
        """The batch as the same CSV as ``dogbreeds label``, one row per displayed name."""
        csv_path = self.out_dir / "labels.csv"
        with open(csv_path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(csv_row(name, answer, self.model.model_id) for name, answer in zip(names, answers))
        return str(csv_path)

    def gradcam(self, name: str | None, uploaded: dict[str, str]) -> tuple[np.ndarray | None, str]:
        """(overlay image, caption) of the upload displayed as ``name`` (``uploaded``: name -> path)."""
        path = (uploaded or {}).get(name or "")
        if path is None:
            return None, "Label some photos first, then pick one."
        try:
            image = load_upright(path)
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
        uploaded = gr.State({})
        run.click(actions.label, inputs=files, outputs=[messages, cards, download, choice, uploaded])
        explain.click(actions.gradcam, inputs=[choice, uploaded], outputs=[overlay, caption])
    return app


def serve(
    model: ShelterModel,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    review: str | os.PathLike | None = None,
) -> gr.Blocks:
    """Start the app on ``host``:``port`` (with a login when ``auth`` is given) and return it at once:
    the server runs in a thread until ``app.close()``. AppStartError when it cannot listen there.

    With ``review`` (a finished labels CSV) the page is the review of that CSV (:mod:`dogbreeds.shelter.review`);
    LabelError, before anything starts, when it is no labels CSV.
    """
    from dogbreeds.shelter.review import REVIEW_CSS, build_review

    app = build_review(model, review) if review is not None else build_app(model)
    try:
        app.launch(
            server_name=host,
            server_port=port,
            auth=auth,
            theme=theme(),
            css=CSS + REVIEW_CSS,
            max_file_size=MAX_FILE_SIZE,
            prevent_thread_lock=True,
            show_error=True,
            inbrowser=False,
            quiet=True,
        )
    except OSError as error:
        raise AppStartError(f"cannot start the app on {host}:{port}: {error}") from None
    return app
