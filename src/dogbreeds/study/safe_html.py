"""HTML made safe to print: a crafted notebook output cannot pull this computer's files into the PDF.

Chromium prints the report from a ``file://`` page, which may load any local file into a
frame, an object or an image. :func:`printable_html` removes scripts, frames, objects,
embeds, ``<base>``, ``<link>``, forms and ``<meta http-equiv>``; event handlers; and every
reference that loads something (``src``, ``data``, ``poster``, ``href`` but on a link, CSS
``url()`` and ``@import``) unless it is embedded (``data:``), a fragment or a file inside
``root``. A Content-Security-Policy then lets the page load embedded data and ``root``'s
files only, with no script.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

DROPPED_TAGS = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "portal", "base", "link", "form")
CHECKED_ATTRIBUTES = ("src", "data", "poster", "href", "xlink:href")
DROPPED_ATTRIBUTES = ("srcset", "srcdoc", "background", "action", "formaction", "ping", "lowsrc", "dynsrc", "codebase")
POLICY = "default-src 'none'; img-src data: file:; style-src 'unsafe-inline' data:; font-src data:"
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_CSS_IMPORT = re.compile(r"@import[^;]*;?", re.IGNORECASE)
_SPACE_AND_CONTROLS = "".join(map(chr, range(0x21)))


def printable_html(text: str, base: Path, root: Path) -> str:
    """``text`` (an HTML page in folder ``base``) without active content nor references outside ``root``."""
    page = BeautifulSoup(text, "html.parser")
    for tag in page.find_all(DROPPED_TAGS):
        tag.decompose()
    for tag in page.find_all(True):
        if tag.name == "meta" and tag.has_attr("http-equiv"):
            tag.decompose()
            continue
        for name in list(tag.attrs):
            if name.startswith("on") or name in DROPPED_ATTRIBUTES:
                del tag[name]
            elif name in CHECKED_ATTRIBUTES and not (tag.name == "a" and name == "href"):
                if not allowed(str(tag[name]), base, root):
                    del tag[name]
            elif name == "style":
                tag[name] = _safe_css(str(tag[name]), base, root)
        if tag.name == "style" and tag.string:
            tag.string.replace_with(_safe_css(str(tag.string), base, root))
    policy = page.new_tag("meta", attrs={"http-equiv": "Content-Security-Policy", "content": POLICY})
    (page.head or page).insert(0, policy)
    return str(page)


def allowed(reference: str, base: Path, root: Path) -> bool:
    """Whether a reference from a page in ``base`` is embedded data, a fragment or a file inside ``root``."""
    reference = re.sub(r"[\t\n\r]", "", reference).strip(_SPACE_AND_CONTROLS).replace("\\", "/")  # as browsers do
    if not reference or reference.startswith("#") or reference.lower().startswith("data:"):
        return True
    parts = urlsplit(reference)
    if parts.scheme not in ("", "file") or parts.netloc:
        return False
    path = Path(unquote(parts.path))
    target = (path if path.is_absolute() else base / path).resolve()
    return target.is_relative_to(root.resolve())


def _safe_css(css: str, base: Path, root: Path) -> str:
    css = _CSS_IMPORT.sub("", css)
    return _CSS_URL.sub(lambda match: match[0] if allowed(match[2], base, root) else "none", css)
