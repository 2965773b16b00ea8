"""The shelter's web app in a real browser: Debian's Chromium driven by Playwright (no browser is downloaded)."""

from __future__ import annotations

import csv
import os
import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

from dogbreeds.core.config import REPO_ROOT, SAMPLE_DATA_DIR

SCREENSHOT = REPO_ROOT / "runs" / "screenshots" / "shelter-app.png"
SAMOYED = SAMPLE_DATA_DIR / "Images" / "n02111889-Samoyed" / "n02111889_1019.jpg"


def chromium() -> str:
    """The system's Chromium; CI must have it (the set-up installs it), elsewhere the test is skipped."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("No Chromium on this CI machine: ./run_all.sh installs Debian's chromium when run as root.")
    pytest.skip("No Chromium here (sudo apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    from dogbreeds.shelter.app import serve
    from dogbreeds.shelter.model import ShelterModel

    app = serve(ShelterModel.load(), port=free_port())
    yield app.local_url
    app.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    page.goto(app_url)
    page.wait_for_selector("#label-button")
    yield page
    page.close()


def upload_and_label(page, files: list[Path]) -> str:
    """Upload ``files``, press the button, wait for the cards; returns the messages text."""
    clear = page.locator("#photos button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    page.set_input_files("#photos input[type=file]", [str(path) for path in files])
    for path in files:
        page.wait_for_function(
            "name => document.querySelector('#photos').innerText.includes(name)", arg=path.stem, timeout=30_000
        )  # the page breaks a name before its extension
    page.click("#label-button")
    page.wait_for_function(
        "count => document.querySelector('#messages').innerText.startsWith(count + ' photo(s)')",
        arg=len(files),
        timeout=120_000,
    )
    return page.inner_text("#messages")


def test_a_dog_photo_shows_its_breed_and_a_non_image_gets_a_message(page, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    huge = tmp_path / "huge.png"
    Image.new("L", (10_000, 10_000)).save(huge)  # 100 megapixels: over Pillow's decompression-bomb limit
    messages = upload_and_label(page, [SAMOYED, notes, empty, huge])
    cards = page.locator("#results .card")
    dog = cards.nth(0)
    assert dog.get_attribute("data-status") == "labelled"
    assert "Samoyed" in dog.locator(".breed").inner_text()
    assert dog.locator(".bar").count() == 3
    assert "notes.txt" in messages and "not an image" in messages
    assert "empty.jpg" in messages and "empty file" in messages
    assert "huge.png" in messages and "decompression bomb" in messages
    assert [cards.nth(i).get_attribute("data-status") for i in (1, 2, 3)] == ["unreadable"] * 3
    with page.expect_download() as download:
        page.locator("#csv a").first.click()
    with open(download.value.path(), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["status"] for row in rows] == ["labelled", "unreadable", "unreadable", "unreadable"]
    assert rows[0]["breed"] == "Samoyed" and rows[0]["file"] == SAMOYED.name
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_gradcam_on_request_and_the_app_keeps_serving(page):
    page.click("#gradcam-button")
    page.wait_for_selector("#gradcam img", timeout=120_000)
    assert "Samoyed" in page.inner_text("#gradcam-caption")
    # After bad files and Grad-CAM the app still labels photos.
    other = SAMPLE_DATA_DIR / "Images" / "n02088364-beagle"
    messages = upload_and_label(page, sorted(other.glob("*.jpg"))[:1])
    assert "1 photo(s)" in messages


def test_the_page_fetches_nothing_from_the_internet(page):
    outside = [
        url
        for url in page.requests
        if urlparse(url).hostname not in ("127.0.0.1", "localhost", None) and not url.startswith("data:")
    ]
    assert outside == []


REVIEW_SCREENSHOT = Path("/tmp/dogbreeds-review-page.png")


def review_csv(folder: Path) -> Path:
    """A finished labels CSV written by the library's own cells: two photos asked about (one of them gone from
    disk), one labelled, one not a dog, a reason a spreadsheet would run as a formula; as `label` writes it."""
    from dogbreeds.shelter.labeller import csv_row
    from dogbreeds.shelter.labels_csv import LabelsTable
    from dogbreeds.shelter.model import ASK_A_HUMAN, LABELLED, NOT_A_DOG, Answer

    beagle = sorted((SAMPLE_DATA_DIR / "Images" / "n02088364-beagle").glob("*.jpg"))[0]
    top = (("Samoyed", 0.55), ("Pomeranian", 0.25), ("keeshond", 0.1))
    answers = [
        (SAMOYED, Answer(ASK_A_HUMAN, "confidence 0.55 is under 0.73", "Samoyed", 0.55, top, 0.97)),
        (beagle, Answer(LABELLED, "=confident", "beagle", 0.91, (("beagle", 0.91),), 0.99)),
        (folder / "gone.jpg", Answer(ASK_A_HUMAN, "confidence 0.40 is under 0.73", "Pomeranian", 0.4, top, 0.9)),
        (beagle.with_name("cat.jpg"), Answer(NOT_A_DOG, "dog probability 0.02", top=top[:1], dog_probability=0.02)),
    ]
    table = LabelsTable()
    table.add(csv_row(path, answer, "bb2c9a837dd3") for path, answer in answers)
    out = folder / "labels.csv"
    table.save(out)
    return out


def test_a_person_corrects_a_photo_in_the_review_page_and_only_its_row_changes(browser, tmp_path):
    from datetime import UTC, datetime

    from dogbreeds.shelter.app import serve
    from dogbreeds.shelter.model import ShelterModel

    out = review_csv(tmp_path)
    before = out.read_text(encoding="utf-8").splitlines()
    app = serve(ShelterModel.load(), port=free_port(), review=out)
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    try:
        page.goto(app.local_url)
        card = page.locator(".review-card", has_text=SAMOYED.name)
        card.wait_for(timeout=60_000)
        assert page.locator(".review-card").count() == 2  # the photos asked about, first
        assert "Samoyed 55.0%" in card.inner_text().replace("(", "").replace(")", "")
        assert "photo missing" in page.locator(".review-card", has_text="gone.jpg").inner_text()
        assert "bb2c9a837dd3" in page.inner_text("#review-header")
        answer = card.locator("input")
        assert answer.input_value() == "Samoyed"  # prefilled with the model's best guess
        answer.click()
        answer.fill("")
        answer.press_sequentially("Pomeranian")  # typed, so that the list filters as it does for a person
        page.locator('li[role=option][aria-label="Pomeranian"]').click()
        assert answer.input_value() == "Pomeranian"
        before_save = datetime.now(UTC).replace(microsecond=0)
        card.locator("button", has_text="Save").click()
        card.locator("div.checked", has_text="checked: Pomeranian").wait_for(timeout=60_000)
        page.locator("#review-header", has_text="1 checked by a person").wait_for(timeout=60_000)
        page.get_by_label("all (ask a human first)").check()  # the others, after the photos asked about
        page.wait_for_function("() => document.querySelectorAll('.review-card').length === 4", timeout=60_000)
        names = page.locator(".review-card .name").all_inner_texts()
        assert names[:2] == [SAMOYED.name, "gone.jpg"] and "cat.jpg" in names
        assert "checked: Pomeranian" in page.locator(".review-card", has_text=SAMOYED.name).inner_text()
        REVIEW_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(REVIEW_SCREENSHOT), full_page=True)
    finally:
        page.close()
        app.close()
    after = out.read_text(encoding="utf-8").splitlines()
    assert after[0] == before[0] + ",checked_by_person,final_breed,checked_at"
    assert after[2:] == [line + ",,," for line in before[2:]]  # every other row as it was, byte for byte
    assert after[1].startswith(before[1] + ",yes,Pomeranian,")
    with open(out, newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert before_save <= datetime.fromisoformat(row["checked_at"]) <= datetime.now(UTC)
