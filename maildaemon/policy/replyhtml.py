"""An HTML reply as plain text, its quoted history marked "> " per depth from the markup.

Mail clients mark a quote in HTML, not in the text: once converted, Outlook's quote has no
">" and no reply model can tell it from the customer's words. So the quote is found on the
structure, before any conversion, and written as a plain-text mailer would:
    <blockquote> (Gmail's gmail_quote, Apple's and Thunderbird's type=cite,
                  Yandex, mail.ru)                         "> " for what it holds
    Outlook's div#divRplyFwdMsg, its border-top:solid #E1E1E1 / #B5C4DF divider
      (Windows Mail too), Outlook 2003's OutlookMessageHeader, Hotmail's hr#stopSpelling
                                                           "> " for the rest of the mail
    Yahoo's div#yahoo_quoted..., GMX's div name=quote,
      Naver's div.__se_quote                               "> " for what it holds
Attribution lines outside the quote (Gmail's gmail_attr, Thunderbird's moz-cite-prefix)
stay plain lines above it, as in a text reply. Line breaks follow the fixture README: a block
element or <br> ends a line, an empty block is a blank line, a <p> is followed by a blank
line except Outlook's <p class=MsoNormal>; scripts, styles and comments are dropped.

Our own scanner rather than a library or html.parser (README, "How we read a reply"): per
2 KB reply it costs about what html.parser spends on tokenising alone, less than html-text
and half of inscriptis, which both need lxml and mark no quote. Every pattern is bounded
(no nested repetition, attributes at most 4,000 characters), each step moves forward, and
past MAX_TAGS tags only end lines: 1 MB of hostile markup stays well under a second.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

BLOCKS = frozenset({
    "address", "article", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p",
    "pre", "section", "table", "tr", "ul",
})
CELLS = frozenset({"td", "th"})  # a table's cells: apart on their row's line
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "param", "source", "track", "wbr"})
# Comments and elements whose content is never shown; removed before the walk.
HIDDEN_START = re.compile(r"<!--|<(script|style|title|textarea|xmp)\b[^<>]{0,4000}>",
                          re.IGNORECASE)
# A tag, a doctype/processing instruction, a run of text, or a stray "<". [^<>] stops at the
# next "<", so a stray "<" costs one step, never a scan to the end of a 1 MB line.
# A "<" that starts no tag is text ("a < b", or a megabyte of "<"): escaped before the walk,
# so that a run of them is one piece of text, not one token each.
STRAY = re.compile(r"<+(?!(?:/?[A-Za-z]|[!?])[^<>]{0,4000}>)")
STRAY_MARK = "\ue000"  # a private-use character, turned back into "<" in the text
TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:_-]{0,40})([^<>]{0,4000})>|<[!?][^<>]{0,4000}>"
                   r"|([^<]+|<)")
CLASS_OR_ID = re.compile(r"""\b(?:class|id|name)\s*=\s*["']?([^"'>]{0,500})""")
REST_IS_QUOTE = ("divrplyfwdmsg", "outlookmessageheader", "stopspelling",
                 "border-top:solid#e1e1e1", "border-top:solid#b5c4df")
MAX_MARKS = 10  # deeper quotes are marked as depth 10: the output stays linear in the input
MAX_OPEN = 100_000
# Tags read for their structure; a reply has a few hundred, a long thread a few thousand.
# Past this, tags only end lines: hostile markup costs a cheap pass, not a walk per tag.
MAX_TAGS = 10_000


def quoted_text(markup: str) -> str:
    """The HTML as plain text, every quoted block found on the structure marked "> "."""
    walker = _Walker()
    walker.feed(markup)
    return walker.text()


def _visible(markup: str) -> str:
    """The markup without comments, scripts and styles. Each step moves past what it
    removes, so the cost is linear; an unclosed one hides the rest, as in a browser."""
    kept: list[str] = []
    pos = 0
    while (found := HIDDEN_START.search(markup, pos)) is not None:
        kept.append(markup[pos:found.start()])
        if found.group(1) is None:
            close = markup.find("-->", found.end())
            pos = len(markup) if close < 0 else close + 3
        else:
            closer = re.compile(rf"</{found.group(1)}\s*>", re.IGNORECASE)
            closed = closer.search(markup, found.end())
            pos = closed.end() if closed else len(markup)
    kept.append(markup[pos:])
    return STRAY.sub(lambda found: STRAY_MARK * len(found.group()), "".join(kept))


@dataclass
class _Open:
    tag: str
    quote: bool = False
    paragraph: bool = False  # a <p> that is followed by a blank line
    spaces: bool = False  # holds only white space so far


@dataclass
class _Walker:
    lines: list[str] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)
    has_text: bool = False
    stack: list[_Open] = field(default_factory=list)
    open_count: dict[str, int] = field(default_factory=dict)
    depth: int = 0
    rest_quoted: bool = False
    pre: int = 0
    blank_due: int = -1  # a paragraph ended at this depth: a blank line before the next
    fresh: _Open | None = None  # a block just opened, nothing in it yet

    def feed(self, markup: str) -> None:
        budget = MAX_TAGS
        for slash, tag, attrs, text in TOKEN.findall(_visible(markup)):
            if text:
                if self.fresh is None and not self.pre and "&" not in text:
                    self.pieces.append(text)  # the common case, without a call
                    self.has_text = self.has_text or not text.isspace() or "\xa0" in text
                else:
                    self.data(text)
            elif not tag:
                continue  # <!DOCTYPE ...>, <?xml ...?>
            else:
                self.fresh = self.fresh if slash else None
                tag = tag.lower()
                if tag not in BLOCKS and tag != "br":
                    if tag in CELLS and not slash:  # "OS Windows 11", never "OSWindows 11"
                        self.pieces.append(" ")
                    continue  # inline (span, font, b, a, o:p ...): only its text counts
                if budget <= 0:  # past the budget, a tag only ends a line
                    self.fresh = None
                    if self.has_text:
                        self.flush()
                elif slash:
                    budget -= 1
                    self.end_tag(tag)
                else:
                    budget -= 1
                    self.start_tag(tag, attrs)

    def start_tag(self, tag: str, attrs: str) -> None:
        if tag == "br":
            self.flush(force=True)
            return
        self.flush()
        marks = " ".join(CLASS_OR_ID.findall(attrs)).lower() if attrs else ""
        if tag in ("div", "hr") and not self.rest_quoted:
            style = "".join(attrs.lower().split()) if "border-top" in attrs.lower() else ""
            self.rest_quoted = any(k in marks or k in style for k in REST_IS_QUOTE)
        if tag == "hr" or len(self.stack) >= MAX_OPEN:
            return
        quote = tag == "blockquote" or (tag == "div" and (
            "yahoo_quoted" in marks or "__se_quote" in marks or marks.split() == ["quote"]))
        element = _Open(tag, quote, paragraph=tag == "p" and "msonormal" not in marks)
        self.stack.append(element)
        self.open_count[tag] = self.open_count.get(tag, 0) + 1
        self.depth += quote
        self.pre += tag == "pre"
        if tag == "li":
            self.pieces.append("- ")
        self.fresh = element

    def end_tag(self, tag: str) -> None:
        spaces_only = self.fresh is not None and self.fresh.tag == tag and self.fresh.spaces
        self.fresh = None
        if tag not in BLOCKS:
            if tag == "br":  # </br>: browsers read it as <br>
                self.flush(force=True)
            return
        self.flush(force=spaces_only)  # <div> </div> is a blank line
        if not self.open_count.get(tag):
            return
        while self.stack:  # closes what was left open inside, as browsers do
            element = self.stack.pop()
            self.open_count[element.tag] -= 1
            self.flush()
            if element.paragraph:
                marks = self.marks()
                self.blank_due = marks if self.blank_due < 0 else min(marks, self.blank_due)
            self.depth -= element.quote
            self.pre -= element.tag == "pre"
            if element.tag == tag:
                return

    def data(self, raw: str) -> None:
        text = html.unescape(raw) if "&" in raw else raw
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
        if self.pre or text.strip() or "\xa0" in text:
            self.has_text = True
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
        return "\n".join(out[first:]).replace(STRAY_MARK, "<")
