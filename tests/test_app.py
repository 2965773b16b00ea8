"""The web app without a browser: its login, the names of its uploads, its caps on a request."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from conftest import write_image
from PIL import Image


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def status_of(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=60).status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("auth", [None, ("shelter", "secret")])
def test_a_login_closes_the_app_to_whoever_lacks_it(shelter_model_factory, auth):
    from dogbreeds.shelter.app import serve

    app = serve(shelter_model_factory(), port=free_port(), auth=auth)
    try:
        assert status_of(app.local_url + "config") == (401 if auth else 200)
    finally:
        app.close()


@pytest.fixture
def actions(shelter_model_factory, monkeypatch):
    """The app's actions on the small model, whose answers name the file they were given (no TensorFlow)."""
    from dogbreeds.shelter.app import ShelterApp
    from dogbreeds.shelter.model import LABELLED, Answer

    model = shelter_model_factory()
    model.classified = []

    def classify_files(paths):
        model.classified += paths
        return [Answer(LABELLED, f"read {path}", "Chihuahua", 0.9, (("Chihuahua", 0.9),), 0.99) for path in paths]

    monkeypatch.setattr(model, "classify_files", classify_files)
    return ShelterApp(model)


def test_uploads_with_the_same_name_are_told_apart_in_cards_csv_and_gradcam(actions, tmp_path, monkeypatch):
    import csv

    from dogbreeds.shelter import app

    first = write_image(tmp_path / "a" / "rex.jpg", color=(250, 0, 0))
    second = write_image(tmp_path / "b" / "rex.jpg", color=(0, 0, 250))
    third = write_image(tmp_path / "rex (2).jpg")  # already called what the second would be
    _, cards, csv_path, choices, uploaded = actions.label([str(first), str(second), str(third), str(first)])
    names = ["rex.jpg", "rex (2).jpg", "rex (2) (2).jpg", "rex (3).jpg"]
    assert choices["choices"] == names
    assert all(f'<div class="name">{name}</div>' in cards for name in names)
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["file"] for row in rows] == names
    assert {row["model"] for row in rows} == {actions.model.model_id}  # the download says which model answered
    assert uploaded == dict(zip(names, map(str, [first, second, third, first])))

    explained = []
    monkeypatch.setattr(app, "load_upright", lambda path: explained.append(path) or Image.open(path).convert("RGB"))
    actions._gradcam = FakeGradCam()
    overlay, caption = actions.gradcam("rex (2).jpg", uploaded)
    assert explained == [str(second)] and "Chihuahua" in caption
    assert overlay[..., 2].mean() > overlay[..., 0].mean()  # the blue photo, not the red one
    assert actions.gradcam("rex (9).jpg", uploaded)[0] is None


class FakeGradCam:
    """Grad-CAM's interface with no network: a flat heatmap, the first breed."""

    class model:  # noqa: N801 - stands for the Keras model attribute
        @staticmethod
        def predict_on_batch(batch):
            import numpy as np

            return np.eye(3)[[0] * len(batch)]

    def heatmap(self, view):
        import numpy as np

        return np.zeros(view.shape[:2], dtype=np.float32)


def test_a_request_over_the_caps_gets_messages_and_the_app_keeps_serving(actions, tmp_path, monkeypatch):
    from dogbreeds.shelter import app

    monkeypatch.setattr(app, "MAX_PHOTOS_PER_REQUEST", 3)
    monkeypatch.setattr(app, "MAX_PIXELS_PER_REQUEST", 2 * 48 * 40 + 100)  # two of the small photos
    small = [str(write_image(tmp_path / f"dog{n}.jpg")) for n in range(2)]
    big = str(write_image(tmp_path / "big.png", size=(96, 80), image_format="PNG"))
    late = str(write_image(tmp_path / "late.jpg"))
    messages, cards, *_ = actions.label([*small, big, late])
    assert actions.model.classified == small  # nothing over the caps was decoded
    assert "2 labelled, 2 unreadable" in messages
    assert "**big.png**: 96x80 (0.0 megapixels) takes the request over the cap of" in messages
    assert "**late.jpg**: over the cap of 3 photos per request" in messages
    assert cards.count('data-status="unreadable"') == 2
    assert actions.label([small[0]])[0] == "1 photo(s): 1 labelled."  # and the app goes on
