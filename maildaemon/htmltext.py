"""An HTML part as the text agents read, its quoted history marked "> " from the markup.

Parsed by lxml (libxml2's HTML parser, whose tokenizer follows HTML5 since 2.14), fed as
events to a parser target: no tree is built, so neither 100,000 nested elements nor a
megabyte of stray "<" cost more than one pass, and nothing is lost to a depth limit (a
tree of libxml2 drops everything below 2,048 levels). What the events become is ours,
because no library marks a quote (docs/html-to-text.md has the evaluation):

- a block element or <br> ends a line, an empty block is a blank line, a <p> is followed by
  a blank line except Outlook's <p class=MsoNormal>; runs of white space are one space,
  except in <pre>;
- a table row is a line, its cells apart by " | " (a layout table's lone cell by nothing);
  a list item starts "- ", or "1. " in an <ol>;
- a link shows its target after its text, `text <https://...>`, unless the text says it
  already; mailto: shows the address; javascript:, data:, cid: and relative ones nothing,
  nor a mail app's advertisement ("Sent from Mail for Windows", "Get Outlook for iOS": its
  target would split the line the reply model knows as a signature);
- never shown: script, style, head, title, template, iframe, object, svg, textarea, and
  any element that hides itself (`hidden`, `display:none`, `visibility:hidden`,
  Outlook's `mso-hide:all`, the preheader's `max-height:0` with `overflow:hidden`);
  images are never text, so a tracking pixel leaves nothing;
- the quote, found on the structure before any conversion (a text mailer's ">"):
    <blockquote> (Gmail's gmail_quote, Apple's and Thunderbird's type=cite,
                  Yandex, mail.ru)                         "> " for what it holds
    Outlook's div#divRplyFwdMsg, its border-top:solid #E1E1E1 / #B5C4DF divider
      (Windows Mail too), Outlook 2003's OutlookMessageHeader, Hotmail's hr#stopSpelling
                                                           "> " for the rest of the mail
    Yahoo's div#yahoo_quoted..., GMX's div name=quote,
      Naver's div.__se_quote                               "> " for what it holds
  Attribution lines outside the quote (Gmail's gmail_attr, Thunderbird's moz-cite-prefix)
  stay plain lines above it, as in a text reply.

Bounded: at most MAX_MARKUP characters are read; past MAX_TAGS block tags a tag only ends
a line; quotes deeper than MAX_MARKS are marked as that deep.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

BLOCKS = frozenset({
    "address", "article", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p",
    "pre", "section", "table", "tr", "ul",
})
CELLS = frozenset({"td", "th"})
NEVER_SHOWN = frozenset({"script", "style", "head", "title", "template", "iframe", "object",
                         "svg", "textarea", "xmp"})
REST_IS_QUOTE = ("divrplyfwdmsg", "outlookmessageheader", "stopspelling",
                 "border-top:solid#e1e1e1", "border-top:solid#b5c4df")
LINK_SCHEMES = ("http://", "https://", "ftp://")
# Where a mail app's "Sent from ..." line links to: the store page, never the customer's.
APP_LINKS = ("go.microsoft.com/fwlink", "aka.ms/")
MAX_LINK = 500  # a longer one (a newsletter's tracking link) is left out, never cut
MAX_MARKS = 10  # deeper quotes are marked as depth 10: the output stays linear in the input
# Block tags read for their structure; a reply has a few hundred, a long thread a few
# thousand. Past this, tags only end lines: hostile markup costs a cheap pass.
MAX_TAGS = 10_000
# The text kept is cut at 1,000,000 characters (parse.py); this much markup holds that
# much text even with inline images as data: URLs. The raw message keeps the rest.
MAX_MARKUP = 16_000_000


def html_text(markup: str) -> str:
    """The HTML as plain text, every quoted block found on the structure marked "> "."""
    if not markup.strip():
        return ""
    walker = _Walker()
    parser = etree.HTMLParser(target=walker, encoding="utf-8", no_network=True,
                              remove_comments=True, remove_pis=True)
    data = markup[:MAX_MARKUP].encode("utf-8", "replace")
    try:
        for start in range(0, len(data), 1 << 20):
            parser.feed(data[start:start + (1 << 20)])
        parser.close()
    except etree.LxmlError:
        pass  # what was read so far is kept; libxml2 recovers from nearly anything
    return walker.text()


def hides_itself(attrib: dict[str, str]) -> bool:
    """`hidden`, or an inline style that keeps the element from being seen."""
    if "hidden" in attrib:
        return True
    style = attrib.get("style")
    if not style:
        return False
    rules: dict[str, str] = {}
    for declaration in style.lower().split(";"):
        name, _, value = declaration.partition(":")
        rules[name.strip()] = "".join(value.replace("!important", "").split())
    return (rules.get("display") == "none" or rules.get("visibility") == "hidden"
            or rules.get("mso-hide") == "all"
            or (rules.get("max-height", "").rstrip("px") == "0"
                and rules.get("overflow") == "hidden"))


def link_target(href: str, text: str) -> str:
    """What a link adds after its text: its target, unless the text shows it already or
    it is no address a reader can use."""
    href = "".join(href.split())
    lowered = href.lower()
    if lowered.startswith("mailto:"):
        target = href[7:].partition("?")[0]
    elif lowered.startswith(LINK_SCHEMES):
        target = href
    else:
        return ""
    if not text.strip() or not target or len(target) > MAX_LINK:
        return ""
    bare = _bare(target)
    return "" if bare in _bare(text) or bare.startswith(APP_LINKS) else target


def _bare(address: str) -> str:
    bare = "".join(address.lower().split()).rstrip("/")
    for prefix in ("mailto:", *LINK_SCHEMES, "www."):
        bare = bare.removeprefix(prefix)
    return bare


@dataclass
class _Open:
    tag: str
    quote: bool = False
    paragraph: bool = False  # a <p> that is followed by a blank line
    spaces: bool = False  # holds only white space so far
    items: int = 0  # an <ol>'s items so far


@dataclass
class _Link:
    href: str
    text: list[str] = field(default_factory=list)


_HIDDEN = object()  # an element that hides itself, or one inside it
_LINE = object()  # a block tag past the budget: it only ends a line


@dataclass
class _Walker:
    """The parser target: lxml calls start, data and end, well nested, then close."""

    lines: list[str] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)
    has_text: bool = False
    stack: list[object] = field(default_factory=list)
    lists: list[_Open] = field(default_factory=list)
    links: list[_Link] = field(default_factory=list)
    hidden: int = 0
    depth: int = 0
    rest_quoted: bool = False
    pre: int = 0
    budget: int = MAX_TAGS
    cell_gap: bool = False  # a cell began after text on its row: " | " before its text
    after_link: bool = False  # a link's target was just written: a word after it is apart
    blank_due: int = -1  # a paragraph ended at this depth: a blank line before the next
    fresh: _Open | None = None  # a block just opened, nothing in it yet

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if self.hidden or tag in NEVER_SHOWN or hides_itself(attrib):
            self.hidden += 1
            self.stack.append(_HIDDEN)
            return
        if tag not in BLOCKS:
            self.fresh = None
            if tag == "br":
                self.flush(force=True)
            elif tag in CELLS:
                self.pieces.append(" ")  # "OS Windows 11", never "OSWindows 11"
                self.cell_gap = self.has_text
            elif tag == "a" and not self.links:
                link = _Link(attrib.get("href", ""))
                self.links.append(link)
                self.stack.append(link)
                return
            self.stack.append(None)
            return
        if self.budget <= 0:  # past the budget, a tag only ends a line
            self.fresh = None
            if self.has_text:
                self.flush()
            self.stack.append(_LINE)
            return
        self.budget -= 1
        self.stack.append(self.start_block(tag, attrib))

    def start_block(self, tag: str, attrib: dict[str, str]) -> _Open:
        self.flush()
        marks = " ".join(attrib.get(name, "")[:500] for name in ("class", "id", "name")
                         ).lower()
        if tag in ("div", "hr") and not self.rest_quoted:
            style = attrib.get("style", "").lower()
            style = "".join(style.split()) if "border-top" in style else ""
            self.rest_quoted = any(k in marks or k in style for k in REST_IS_QUOTE)
        quote = tag == "blockquote" or (tag == "div" and (
            "yahoo_quoted" in marks or "__se_quote" in marks or marks.split() == ["quote"]))
        element = _Open(tag, quote, paragraph=tag == "p" and "msonormal" not in marks)
        self.depth += quote
        self.pre += tag == "pre"
        if tag in ("ol", "ul"):
            self.lists.append(element)
        elif tag == "li":
            numbered = self.lists[-1] if self.lists and self.lists[-1].tag == "ol" else None
            if numbered is not None:
                numbered.items += 1
            self.pieces.append(f"{numbered.items}. " if numbered else "- ")
        self.fresh = element
        return element

    def end(self, tag: str) -> None:
        if not self.stack:
            return
        element = self.stack.pop()
        if element is _HIDDEN:
            self.hidden -= 1
        elif element is None:
            return
        elif element is _LINE:
            self.fresh = None
            if self.has_text:
                self.flush()
        elif isinstance(element, _Link):
            self.links.pop()
            target = link_target(element.href, " ".join("".join(element.text).split()))
            if target:
                self.add(f" <{target}>")
                self.after_link = True
        elif isinstance(element, _Open):
            self.end_block(element)

    def end_block(self, element: _Open) -> None:
        spaces_only = self.fresh is element and element.spaces
        self.fresh = None
        self.flush(force=spaces_only)  # <div> </div> is a blank line
        if element.paragraph:
            marks = self.marks()
            self.blank_due = marks if self.blank_due < 0 else min(marks, self.blank_due)
        self.depth -= element.quote
        self.pre -= element.tag == "pre"
        if self.lists and self.lists[-1] is element:
            self.lists.pop()

    def data(self, text: str) -> None:
        if self.hidden:
            return
        if self.links:
            self.links[-1].text.append(text)
        if self.fresh is not None and not text.strip() and "\xa0" not in text:
            self.fresh.spaces = True
            return
        self.fresh = None
        if self.pre:
            first, *rest = text.split("\n")
            self.add(first)
            for line in rest:
                self.flush(force=True)
                self.add(line)
        else:
            self.add(text)

    def add(self, text: str) -> None:
        if not text:
            return
        shown = bool(self.pre) or not text.isspace() or "\xa0" in text
        if shown and self.cell_gap:
            self.pieces.append(" | ")
            self.cell_gap = False
        if self.after_link:
            self.after_link = False
            if text[0].isalnum():
                self.pieces.append(" ")
        self.has_text = self.has_text or shown
        self.pieces.append(text)

    def marks(self) -> int:
        return min(self.depth + self.rest_quoted, MAX_MARKS)

    def flush(self, force: bool = False) -> None:
        if self.has_text or force:
            joined = "".join(self.pieces)
            line = joined.replace("\xa0", " ").rstrip() if self.pre else " ".join(joined.split())
            marks = self.marks()
            if self.blank_due >= 0:  # at the shallower depth: a quote's last paragraph
                self.lines.append(("> " * min(marks, self.blank_due)).rstrip())  # ends outside
                self.blank_due = -1
            self.lines.append(("> " * marks + line).rstrip())
        self.pieces.clear()
        self.has_text = False
        self.cell_gap = self.after_link = False

    def comment(self, text: str) -> None:
        """Comments are never shown (Outlook's conditional ones included)."""

    def close(self) -> None:
        self.flush()

    def text(self) -> str:
        self.flush()
        out: list[str] = []
        for line in self.lines:  # at most one blank line in a row, quoted or not
            if out and line == out[-1] and not line.strip("> "):
                continue
            out.append(line)
        first = next((i for i, line in enumerate(out) if line.strip("> ")), len(out))
        while len(out) > first and not out[-1].strip("> "):
            out.pop()
        return "\n".join(out[first:])
