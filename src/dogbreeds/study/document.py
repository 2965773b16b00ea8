"""The combined report's HTML made a document: chapters, contents with page numbers, numbered figures and tables.

:func:`finish_html` works on the HTML nbconvert writes. It gives every chapter (a level-1
heading after the title page) one style, "Chapter N · title", whatever the notebook wrote
("03 — title", "01 · title"); numbers every figure and table ("Figure 3", "Table 2"); writes a
missing table value as an em dash; gives wide tables a smaller type so that they fit the page
without breaking words; resolves the text's references ("{figure:curves}" becomes a link "Figure 7"
to the first figure of the cell tagged ``figure-curves``; "{table:...}" likewise with ``table-...``);
and fills the contents. Page numbers come from the printed PDF
(:func:`heading_pages`: Chromium writes a named destination for every heading the contents links
to), so the report is printed twice: once to learn the pages, once with them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from bs4 import BeautifulSoup, Tag

CHAPTER_NUMBER = re.compile(r"^\s*(?:chapter\s+)?\d+\s*[·—–\-:.]\s*", re.IGNORECASE)
NOTEBOOK_NUMBER = re.compile(r"^\s*(\d\d)\s*[·—–\-:.]")
MISSING_CELL = {"nan", "NaN", "None", "<NA>", "NaT"}
TYPE_SIZES = ((100, ""), (115, "table-small"), (135, "table-smaller"))
"""(width in characters of a table's narrowest layout, class): wider tables get smaller type (8 pt fits
about 120 characters to the A4 line, with the cells' padding about 100)."""
BREAK_NAMES_WIDTH = 170
"""Beyond this many characters even the smallest type (5 pt, about 180 characters to the line) is not enough."""
FULL_WIDTH = 120
"""A table whose cells need more characters than this on one line spans the page's width."""


def finish_html(html: str, pages: Mapping[str, int] | None = None) -> str:
    """The report's HTML as a document (see the module); ``pages`` maps heading ids to page numbers.

    Finishing a finished page again only fills its contents anew (with ``pages``).
    """
    page = BeautifulSoup(html, "html.parser")
    for anchor in page.select("a.anchor-link"):
        anchor.decompose()
    entries, chapters = _chapters_and_sections(page)
    figures = _number_figures(page)
    tables = _number_tables(page)
    _resolve_references(page, {"figure": figures, "table": tables})
    _notebooks_as_chapters(page, chapters)
    for table in page.find_all("table"):
        _table_words(page, table)
    contents = page.find(class_="toc")
    if contents is not None:
        contents.clear()
        contents.append(_contents(page, entries, pages or {}))
    return str(page)


def _chapters_and_sections(page: BeautifulSoup) -> tuple[list[tuple[int, Tag]], dict[str, int]]:
    """(level, heading) of every chapter (h1, renamed "Chapter N · ...") and section (h2) after the title page,
    and the chapter number of each notebook number its heading gave ("03 — ..." -> {"03": 3}).
    """
    entries, chapter, chapters = [], 0, {}
    # a chapter's heading with the same words as one of the title page must not share its anchor
    taken = {element["id"] for element in page.select(".title-page [id], .toc-page [id]")}
    for heading in page.find_all(["h1", "h2"]):
        if heading.find_parent(class_="title-page") or heading.find_parent(class_="toc-page"):
            continue
        text = heading.get_text(" ", strip=True)
        if heading.name == "h1":
            chapter += 1
            number = NOTEBOOK_NUMBER.match(text)
            if number:
                chapters[number.group(1)] = chapter
            heading.clear()
            heading.append(f"Chapter {chapter} · {CHAPTER_NUMBER.sub('', text)}")
            heading["class"] = list(dict.fromkeys([*heading.get("class", []), "chapter"]))
        if not heading.get("id") or heading["id"] in taken:  # two notebooks may both have a "Conclusions"
            heading["id"] = f"heading-{len(entries) + 1}"
        taken.add(heading["id"])
        entries.append((1 if heading.name == "h1" else 2, heading))
    return entries, chapters


def _contents(page: BeautifulSoup, entries: list[tuple[int, Tag]], pages: Mapping[str, int]) -> Tag:
    """The contents list: each chapter and section, linked, with its page number (a blank one before printing)."""
    listing = page.new_tag("ul", attrs={"class": "toc-list"})
    for level, heading in entries:
        item = page.new_tag("li", attrs={"class": f"toc-level-{level}"})
        link = page.new_tag("a", href=f"#{heading['id']}")
        link.append(heading.get_text(" ", strip=True))
        number = page.new_tag("span", attrs={"class": "toc-number"})
        number.append(str(pages.get(heading["id"], "")))
        item.append(link)
        item.append(number)
        listing.append(item)
    return listing


def _number_figures(page: BeautifulSoup) -> dict[str, tuple[int, str]]:
    """A "Figure N" caption under every figure a notebook drew (images in cell outputs).

    Returns (number, caption id) by the label of each cell tagged ``figure-<label>`` (its first figure).
    """
    labelled = {}
    for number, image in enumerate(page.select(".jp-OutputArea-output img"), start=1):
        caption = image.find_next_sibling(class_="figure-number")
        if caption is None:
            caption = page.new_tag("div", attrs={"class": "figure-number", "id": f"figure-{number}"})
            caption.append(f"Figure {number}")
            image.insert_after(caption)
            image.parent["class"] = image.parent.get("class", []) + ["numbered-figure"]
        for label in _cell_labels(image, "figure"):
            labelled.setdefault(label, (number, caption.get("id", "")))
    return labelled


NOTEBOOK_MENTION = re.compile(
    r"\b[Nn]otebooks? (\d\d)(?:(\s*[–-]\s*| and |, )(\d\d))?\b"
    r"|\b([Tt]his|[Tt]he next|[Tt]he later|[Tt]he earlier|[Ee]very|[Ee]ach) notebook(s?)\b"
)
"""A notebook named in the text: "notebook 03", "notebooks 02–04", "notebooks 04 and 05", "the next notebooks"."""


def _notebooks_as_chapters(page: BeautifulSoup, chapters: Mapping[str, int]) -> None:
    """In the report, the text's "notebook 03" is "Chapter 3" (each notebook is a chapter), "this notebook" "this
    chapter". A notebook number no chapter heading gave is left as it is; code and its outputs are untouched.
    """

    def chapter(match: re.Match) -> str:
        if match.group(4):
            return f"{match.group(4)} chapter{match.group(5)}"
        first, joint, last = match.group(1), match.group(2), match.group(3)
        if first not in chapters or (last and last not in chapters):
            return match.group(0)
        if not last:
            return f"Chapter {chapters[first]}"
        return f"Chapters {chapters[first]}{'–' if joint.strip() in '–-' else joint}{chapters[last]}"

    for text in list(page.find_all(string=NOTEBOOK_MENTION)):
        if text.find_parent(["code", "pre", "script", "style"]):
            continue
        text.replace_with(NOTEBOOK_MENTION.sub(chapter, str(text)))


VALUE_WORDS = {
    "adamw": "AdamW",
    "sgd": "SGD",
    "relu": "ReLU",
    "elu": "ELU",
    "clahe": "CLAHE",
    "zca": "ZCA",
    "categorical_crossentropy": "categorical cross-entropy",
    "sparse_categorical_crossentropy": "sparse categorical cross-entropy",
    "equalize_luma": "luma equalization",
    "equalize luma": "luma equalization",
    "val_accuracy": "validation accuracy",
    "val_loss": "validation loss",
}
"""Code words a table may hold, in words (any word of a cell)."""
CELL_WORDS = {"gap": "global average pooling", "flatten": "flattening", "True": "yes", "False": "no", "None": "none"}
"""Code words that are words too ("gap"), replaced only as a whole cell or one side of an arrow."""
VALUE_WORD = re.compile(r"\b(" + "|".join(sorted(VALUE_WORDS, key=len, reverse=True)) + r")\b")
NO_BREAK = re.compile(
    r"\(?[+\-−]?\d[\d.,]*(?:\s?[–-]\s?[+\-−]?\d[\d.,]*)?\s?%\)?"  # 87.6 %, (86.9–88.3 %)
    r"|\b\w+(?:-\w+)+\b"  # top-1, fine-tuned, 32-64-128: a table wraps at spaces only
)
"""What a table cell must never break inside: a percentage with its sign, an interval, a name with a number."""


def _table_words(page: BeautifulSoup, table: Tag) -> None:
    """A table's cells in words (``adamw -> sgd`` becomes "AdamW → SGD"), never broken inside a number or a
    hyphenated word, and the header row pandas adds for the index's name merged into the one above it.
    """
    _merge_index_name_row(table)
    for cell in table.find_all(["td", "th"]):
        whole = cell.get_text(strip=True)
        if not cell.find(True) and " -> " in whole:
            cell.string = " → ".join(_cell_word(part.strip()) for part in whole.split(" -> "))
        elif not cell.find(True) and whole in CELL_WORDS:
            cell.string = CELL_WORDS[whole]
        for text in list(cell.find_all(string=True)):
            if text.find_parent(class_=["nowrap", "table-number"]):
                continue
            words = VALUE_WORD.sub(lambda match: VALUE_WORDS[match.group(1)], str(text))
            parts, start = [], 0
            for match in NO_BREAK.finditer(words):
                parts.append(words[start : match.start()])
                kept = page.new_tag("span", attrs={"class": "nowrap"})
                kept.append(match.group(0))
                parts.append(kept)
                start = match.end()
            parts.append(words[start:])
            if len(parts) > 1 or words != str(text):
                text.replace_with(*[part for part in parts if part != ""])


def _cell_word(text: str) -> str:
    """``True`` as "yes", and ``batch norm: True`` as "batch norm: yes" (one side of a change)."""
    setting, _, value = text.rpartition(": ")
    return f"{setting}: {CELL_WORDS.get(value, value)}" if setting else CELL_WORDS.get(text, text)


def _merge_index_name_row(table: Tag) -> None:
    """Pandas writes an index's name on a header row of its own, under an empty corner: move it into the corner."""
    head = table.find("thead")
    rows = head.find_all("tr", recursive=False) if head else []
    if len(rows) != 2:
        return
    corner, names = rows[0].find(["th", "td"]), rows[1].find_all(["th", "td"])
    if corner is None or corner.get_text(strip=True) or not names or not names[0].get_text(strip=True):
        return
    if any(cell.get_text(strip=True) for cell in names[1:]):
        return
    corner.clear()
    corner.append(names[0].get_text(strip=True))
    rows[1].decompose()


def _cell_labels(element: Tag, kind: str) -> list[str]:
    """Labels of the notebook cell holding ``element``: its tags ``<kind>-<label>`` (``celltag_`` classes)."""
    cell = element.find_parent(class_="jp-Cell")
    prefix = f"celltag_{kind}-"
    classes = cell.get("class", []) if cell is not None else []
    return [name[len(prefix) :] for name in classes if name.startswith(prefix)]


REFERENCE = re.compile(r"\{(figure|table):([a-z0-9][a-z0-9-]*)\}")
"""A reference in the text: ``{figure:label}`` or ``{table:label}``."""


def _resolve_references(page: BeautifulSoup, targets: Mapping[str, Mapping[str, tuple[int, str]]]) -> None:
    """Every ``{figure:label}`` and ``{table:label}`` of the text as a link "Figure N" / "Table N".

    Raises ``ValueError`` naming the references no tagged cell answers (a figure that was renamed or
    not drawn): a report never prints a dangling reference.
    """
    missing = []
    for text in list(page.find_all(string=REFERENCE)):
        if text.find_parent(["script", "style"]):
            continue
        parts, start = [], 0
        for match in REFERENCE.finditer(text):
            kind, label = match.groups()
            parts.append(text[start : match.start()])
            start = match.end()
            if label not in targets[kind]:
                missing.append(match.group(0))
                parts.append(match.group(0))
                continue
            number, anchor = targets[kind][label]
            link = page.new_tag("a", href=f"#{anchor}", attrs={"class": "reference"})
            link.append(f"{kind.capitalize()} {number}")
            parts.append(link)
        parts.append(text[start:])
        text.replace_with(*[part for part in parts if part != ""])
    if missing:
        raise ValueError(f"the report refers to figures or tables no cell is tagged with: {', '.join(missing)}")


def _number_tables(page: BeautifulSoup) -> dict[str, tuple[int, str]]:
    """Every table numbered ("Table N", before its caption), missing values as dashes, no "Unnamed" heading,
    wide tables in smaller type.

    Returns (number, table id) by the label of each cell tagged ``table-<label>`` (its first table).
    """
    labelled = {}
    tables = [table for table in page.find_all("table") if not table.find_parent(class_="title-page")]
    for number, table in enumerate(tables, start=1):
        for label in _cell_labels(table, "table"):
            labelled.setdefault(label, (number, table.get("id") or f"table-{number}"))
        if table.find(class_="table-number"):
            continue  # numbered by an earlier pass
        table["id"] = table.get("id") or f"table-{number}"
        for cell in table.find_all(["td", "th"]):
            if cell.get_text(strip=True) in MISSING_CELL:
                cell.string = "—"
            elif cell.name == "th" and cell.get_text(strip=True).startswith("Unnamed:"):
                cell.string = ""  # what pandas calls a column without a name
        caption = table.find("caption")
        if caption is None:
            caption = page.new_tag("caption")
            table.insert(0, caption)
        label = page.new_tag("span", attrs={"class": "table-number"})
        label.append(f"Table {number}" + (". " if caption.get_text(strip=True) else ""))
        caption.insert(0, label)
        size = next((name for limit, name in TYPE_SIZES if _narrowest_width(table) <= limit), "table-smallest")
        if _narrowest_width(table) > BREAK_NAMES_WIDTH:
            _break_long_names(page, table)
        spread = "table-full" if _text_width(table) > FULL_WIDTH else ""  # long texts: the page's width
        table["class"] = table.get("class", []) + [name for name in (size, spread) if name]
    return labelled


LONG_NAME = re.compile(r"(?<=[_/])(?=[^_/\s])")
"""Where a long code name may break in a table too wide for the page: after an underscore or a slash."""


def _break_long_names(page: BeautifulSoup, table: Tag) -> None:
    """Let code names longer than 12 characters (``sparse_categorical_crossentropy``) break after ``_`` or ``/``.

    Only in a table that does not fit the page even in the smallest type: a column cut off at the
    page's edge is worse than a name broken at one of its own separators (never inside a word).
    """
    for text in list(table.find_all(string=True)):
        if not any(len(word) > 12 and LONG_NAME.search(word) for word in text.split()):
            continue
        pieces = LONG_NAME.split(str(text))
        parts = [pieces[0]]
        for piece in pieces[1:]:
            parts += [page.new_tag("wbr"), piece]
        text.replace_with(*parts)


def _narrowest_width(table: Tag) -> int:
    """Characters a table needs at least in one line: the longest word of each column, plus spacing."""
    widths: dict[int, int] = {}
    for row in table.find_all("tr"):
        for position, cell in enumerate(row.find_all(["td", "th"])):
            longest = max((len(word) for word in cell.get_text(" ").split()), default=0)
            widths[position] = max(widths.get(position, 0), longest)
    return sum(width + 2 for width in widths.values())


def _text_width(table: Tag) -> int:
    """Characters a table needs to set each column's longest cell on one line."""
    widths: dict[int, int] = {}
    for row in table.find_all("tr"):
        for position, cell in enumerate(row.find_all(["td", "th"])):
            widths[position] = max(widths.get(position, 0), len(cell.get_text(" ", strip=True)))
    return sum(widths.values())


def heading_pages(pdf: Path) -> dict[str, int]:
    """Page number of every named destination of a PDF (the headings the contents links to), by id.

    Read with ``pdfinfo -dests`` (Debian package ``poppler-utils``); an empty mapping without it.
    """
    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo is None:
        return {}
    listing = subprocess.run([pdfinfo, "-dests", str(pdf)], capture_output=True, text=True, timeout=60).stdout
    pages = {}
    for line in listing.splitlines():
        match = re.match(r'^\s*(\d+)\s+\[.*\]\s+"(.*)"\s*$', line)
        if match:
            pages[match.group(2)] = int(match.group(1))
    return pages
