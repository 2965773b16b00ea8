"""The report as a document: chapters, contents with page numbers, numbered figures and tables, closing chapters.

The last test prints a small report (tiny notebooks with a figure and a table) and reads its PDF's text
as a reader would (pdftotext): contents page numbers, numbering, closing chapters, no NaN nor Unnamed.
"""

import json
import re
import shutil

import nbformat
import pytest

from dogbreeds.core.recordfile import make_record, write_record
from dogbreeds.study import closing, reporting
from dogbreeds.study.document import finish_html, heading_pages

PAGE = """<html><body>
<div class="title-page"><h1>Report</h1><table><tr><td>1</td></tr></table></div>
<div class="toc-page"><h2>Contents</h2><div class="toc"></div></div>
<h1 id="a">01 · Exploring the data<a class="anchor-link" href="#a">¶</a></h1><h2>Sizes</h2>
<div class="jp-OutputArea-output"><img src="data:image/png;base64,AA=="></div>
<table><tr><th>model</th><th>score</th></tr><tr><td>baseline</td><td>NaN</td></tr></table>
<h1>03 — A CNN trained from scratch</h1>
<div class="jp-OutputArea-output"><img src="data:image/png;base64,AA=="></div>
<table><caption>Ablations</caption><tr><td>x</td></tr></table>
</body></html>"""


def test_chapters_get_one_style_and_figures_and_tables_a_number():
    html = finish_html(PAGE)
    text = re.sub(r"<[^>]+>", " ", html)
    assert "Chapter 1 · Exploring the data" in text and "Chapter 2 · A CNN trained from scratch" in text
    assert "01 ·" not in text and "03 —" not in text and "¶" not in text
    assert [int(n) for n in re.findall(r"Figure (\d+)", text)] == [1, 2]
    assert [int(n) for n in re.findall(r"Table (\d+)", text)] == [1, 2]  # the title page's table is not counted
    assert "Table 2. " in text and "Ablations" in text and "NaN" not in text and "—" in text
    assert finish_html(html) == html  # finishing again changes nothing


IMAGE = '<div class="jp-OutputArea-output"><img src="data:image/png;base64,AA=="></div>'
TAGGED = f"""<html><body>
<div class="jp-MarkdownCell"><p>The curves ({{figure:curves}}) and the scores ({{table:scores}});
{{figure:curves}} again.</p></div>
<div class="jp-Cell celltag_hide">{IMAGE}</div>
<div class="jp-Cell celltag_figure-curves">{IMAGE}
{IMAGE}</div>
<table><tr><td>1</td></tr></table>
<div class="jp-Cell celltag_table-scores"><table><tr><td>2</td></tr></table></div>
</body></html>"""


def test_references_in_the_text_become_links_to_the_tagged_cells_figure_and_table():
    html = finish_html(TAGGED)
    text = re.sub(r"<[^>]+>", "", html)
    assert "The curves (Figure 2) and the scores (Table 2);\nFigure 2 again." in text
    assert html.count('href="#figure-2"') == 2 and 'href="#table-2"' in html
    assert 'id="figure-2"' in html and 'id="table-2"' in html
    assert finish_html(html) == html


def test_a_reference_no_cell_answers_is_refused_by_name():
    with pytest.raises(ValueError, match=r"\{figure:gone\}"):
        finish_html(TAGGED.replace("{figure:curves} again", "{figure:gone} again"))


def test_the_text_names_chapters_not_notebooks_and_tables_hold_words_that_never_break_inside_a_number():
    page = (
        "<html><body><h1>01 · Data</h1><p>As notebook 03 shows, and notebooks 02–03 and notebooks 01 and 03; "
        "notebook 09 is no chapter. This notebook and the next notebooks.</p><h1>02 · Prep</h1><h1>03 — CNN</h1>"
        "<pre>notebook 02</pre><table><tr><th>change</th><th>top-1 (95 % interval)</th><th>filters</th></tr>"
        "<tr><td>adamw -> sgd</td><td>87.6 % (86.9–88.3 %)</td><td>32-64-128</td></tr>"
        "<tr><td>gap</td><td>ablation elu, relu</td><td>True</td></tr><tr><td>batch norm: True -> False</td></tr>"
        "</table></body></html>"
    )
    html = finish_html(page)
    text = re.sub(r"<[^>]+>", "", html)
    assert "As Chapter 3 shows, and Chapters 2–3 and Chapters 1 and 3; notebook 09 is no chapter." in text
    assert "This chapter and the next chapters." in text and "<pre>notebook 02</pre>" in html  # code untouched
    assert "AdamW → SGD" in text and "global average pooling" in text and "ablation ELU, ReLU" in text
    assert ">yes<" in html and "True" not in text and "batch norm: yes → no" in text
    kept = re.findall(r'<span class="nowrap">([^<]+)</span>', html)
    assert kept == ["top-1", "(95 %", "87.6 %", "(86.9–88.3 %)", "32-64-128"]
    assert finish_html(html) == html


def test_the_header_row_pandas_adds_for_an_index_name_goes_into_the_empty_corner():
    import pandas as pd

    html = finish_html(pd.DataFrame({"top-1": [0.5]}, index=pd.Index(["baseline"], name="arm")).style.to_html())
    assert html.count("<tr") == 2 and re.search(r"<th[^>]*>arm</th>", html) and "top-1" in html


def test_a_chapter_heading_never_shares_its_anchor_with_the_title_pages_heading_of_the_same_words():
    page = (
        '<div class="title-page"><h3 id="scratch-against-transfer">Scratch against transfer</h3></div>'
        '<div class="toc-page"><div class="toc"></div></div>'
        '<h1 id="c">05 · Comparison</h1><h2 id="scratch-against-transfer">Scratch against transfer</h2>'
    )
    html = finish_html(page, pages={"scratch-against-transfer": 1, "heading-2": 39})
    contents = html[html.index('class="toc"') : html.index("</ul>")]
    assert re.findall(r'<a href="#([^"]+)">([^<]+)</a><span class="toc-number">(\d*)</span>', contents)[1] == (
        "heading-2",
        "Scratch against transfer",
        "39",
    )


def test_the_contents_list_every_chapter_and_section_with_its_page():
    html = finish_html(PAGE, pages={"a": 3, "heading-2": 4})
    contents = html[html.index('class="toc"') : html.index("</ul>")]
    entries = re.findall(r'<a href="#([^"]+)">([^<]+)</a><span class="toc-number">(\d*)</span>', contents)
    assert entries == [
        ("a", "Chapter 1 · Exploring the data", "3"),
        ("heading-2", "Sizes", "4"),
        ("heading-3", "Chapter 2 · A CNN trained from scratch", ""),  # no page known: left blank
    ]


def test_a_wide_table_gets_smaller_type_rather_than_broken_words():
    wide = "<table><tr>" + "".join(f"<td>{'word' * 6} column{i}</td>" for i in range(8)) + "</tr></table>"
    assert "table-smaller" in finish_html(wide) or "table-smallest" in finish_html(wide)
    assert "table-small" not in finish_html("<table><tr><td>short</td></tr></table>")


def test_only_a_table_too_wide_for_any_type_lets_long_names_break_at_their_underscores():
    row = "".join(f"<td>sparse_categorical_crossentropy_{i}</td>" for i in range(8))
    html = finish_html(f"<table><tr>{row}</tr><tr><td>baseline</td></tr></table>")
    assert "table-smallest" in html and "sparse_<wbr/>categorical_<wbr/>crossentropy_<wbr/>0" in html
    assert "base<wbr" not in html and "<wbr" not in finish_html("<table><tr><td>label_smoothing</td></tr></table>")


def test_related_results_cite_authors_venue_year_and_a_source():
    table = closing.related_results()
    assert {
        "authors",
        "title",
        "venue",
        "year",
        "top1",
        "train_per_breed",
        "imagenet_pretraining",
        "source_url",
    } <= set(table)
    assert table["source_url"].str.startswith("https://").all() and table["year"].notna().all()
    assert (table["top1"].dropna().between(0, 1)).all()
    assert "Khosla" in table.iloc[0]["authors"] and table.iloc[0]["year"] == 2011


def _record(folder, run_name, kind, metrics, **extra):
    write_record(make_record(run_name, kind, metrics=metrics, **extra), folder)


def _oxford_record(folder, top1_known, **extra):
    """A `bench oxford` record: top-1 on the 387 known-breed dogs of the reporting half."""
    _record(
        folder,
        "shelter-oxford",
        "benchmark",
        {"reporting": {"dogs": {"top1_known": top1_known, "known_breed_photos": 387}}},
        **extra,
    )


def test_the_limitations_read_their_numbers_from_the_records(tmp_path):
    benchmarks = tmp_path / "benchmarks"
    _record(benchmarks, "transfer-efficientnet_lite0/imagenet-head+tta", "benchmark", {"top1": 0.875, "n": 8580})
    _record(benchmarks, "transfer-efficientnet_lite0/keras+tta", "benchmark", {"top1": 0.838, "n": 8580})
    _oxford_record(benchmarks, 0.814)
    run_dir = tmp_path / "run"
    _record(run_dir / "results", "shelter_labeller", "shelter", {"official_test": {"top1": 0.874}})
    (run_dir / "run.json").write_text(
        json.dumps({"device": "CPU: test (2 cores)", "notebooks": {"01": {"seconds": 600}, "02": {"seconds": 1200}}})
    )
    (run_dir / "settings.json").write_text(json.dumps({"image_size": 64, "epochs": 30, "ablation_seeds": 3}))

    text = closing.limitations_markdown(run_dir, benchmarks)

    assert text.startswith("# Limitations and future work")
    assert "87.5% of the 8,580 test crops" in text and "trained here on its features, 83.8%" in text
    assert "(387 photos of breeds the model knows), the shipped model names 81.4% right, against 87.4%" in text
    assert "shipped model, whose head also learnt" not in text
    # a shipped head that learnt from the pet photos: the gap is read on the crops-only head's record
    _record(benchmarks, "shelter-model", "shelter", {"top1": 0.872, "crops_only_top1": 0.876})
    _oxford_record(benchmarks, 0.93, params={"shelter_photos": {"weight": 4, "folds": 5}})
    adapted = closing.limitations_markdown(run_dir, benchmarks)
    assert "a head trained on the Stanford crops alone names 81.4% right, against 87.6%" in adapted
    assert "The shipped model, whose head also learnt from the whole photos of the other half of those pet dogs, " \
        "names 93.0% of them right" in adapted  # fmt: skip
    assert "ran in 30 minutes on this machine (CPU: test (2 cores))" in text
    assert "| scratch CNN input (px) | 64 | 128 |" in text and "| scratch CNN epochs at most | 30 | 60 |" in text
    assert "`" not in text
    assert "first pass" not in text  # run once: no earlier pass to tell of

    manifest = json.loads((run_dir / "run.json").read_text())
    manifest["notebooks"]["03"] = {"seconds": 1800}
    manifest["earlier_passes"] = {"01": [{"seconds": 3000}], "02": [{"seconds": 4200}, {"seconds": 1300}]}
    (run_dir / "run.json").write_text(json.dumps(manifest))
    text = closing.limitations_markdown(run_dir, benchmarks)
    # the first pass: each notebook's first time (01: 50, 02: 70, 03 never ran again: 30); then 01-02 again: 30
    assert "The notebooks ran in 150 minutes on this machine (CPU: test (2 cores)), computing" in text
    assert "chapters 1 to 2 then ran again from those caches in 30 minutes." in text


@pytest.mark.notebook
def test_the_printed_report_has_numbered_pages_contents_and_closing_chapters(tmp_path):
    if shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None:
        pytest.skip("no pdftotext/pdfinfo (Debian package poppler-utils)")
    try:
        reporting.find_chromium()
    except reporting.ReportError:
        pytest.skip("no Chromium on this machine")
    run_dir = _tiny_run(tmp_path)
    made = reporting.build_report(run_dir, author="A. Student")
    import subprocess

    printed = ["pdftotext", "-layout", str(made["report.pdf"]), "-"]
    pages = subprocess.run(printed, capture_output=True, text=True).stdout.split("\f")[:-1]
    text = "\n".join(pages)
    assert "A. Student" in pages[0] and "OpenClassrooms" in pages[0]
    assert "NaN" not in text and "Unnamed" not in text
    contents = re.findall(r"^\s*(\S.*?)\s{2,}(\d+)\s*$", pages[1], re.MULTILINE)  # (heading, page) per line
    chapters = [(title, int(page)) for title, page in contents if title.startswith("Chapter")]
    assert [title for title, _ in chapters] == [
        "Chapter 1 · Exploring the data",
        "Chapter 2 · Preprocessing",
        "Chapter 3 · Limitations and future work",
        "Chapter 4 · Related results",
    ]
    for title, page in chapters:
        assert title in pages[page - 1] and not any(title in earlier for earlier in pages[2 : page - 1]), title
    sections = [int(page) for title, page in contents if title == "A section"]
    assert sections == [chapters[0][1], chapters[1][1]]  # the same heading in two chapters, each on its page
    figures = [int(n) for n in re.findall(r"^\s*Figure (\d+)\s*$", text, re.MULTILINE)]
    tables = [int(n) for n in re.findall(r"^\s*Table (\d+)", text, re.MULTILINE)]
    assert figures == list(range(1, len(figures) + 1)) and len(figures) >= 2
    assert tables == list(range(1, len(tables) + 1)) and len(tables) >= 2
    assert heading_pages(made["report.pdf"])  # the contents' targets are named destinations


def _tiny_run(tmp_path):
    """A run folder with two executed notebooks (a figure and a table with a missing value each) and its records."""
    run_dir = tmp_path / "run"
    (run_dir / "notebooks").mkdir(parents=True)
    for number, title in ((1, "01 · Exploring the data"), (2, "02 — Preprocessing")):
        nb = nbformat.v4.new_notebook()
        figure = nbformat.v4.new_code_cell("figure")
        figure.outputs = [nbformat.v4.new_output("display_data", data={"image/png": _png()})]
        table = nbformat.v4.new_code_cell("table")
        html = "<table><tr><th>val_top1</th><th>Unnamed: 0</th></tr><tr><td>0.5</td><td>NaN</td></tr></table>"
        table.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html})]
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\n## A section\n\nSome text."), figure, table]
        nbformat.write(nb, run_dir / "notebooks" / f"0{number}_notebook.ipynb")
    (run_dir / "run.json").write_text(
        json.dumps({"updated": "2026-12-03T10:00:00+00:00", "device": "CPU: test", "notebooks": {}})
    )
    return run_dir


def _png() -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), (30, 120, 200)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()
