"""What mail clients write above quoted history, in the 20 languages of issue 17.

Three kinds of marker, each a table here so a new language is a line, not a new rule:
- attribution lines: "On Mon, 30 Nov 2026 at 08:14, Support <s@x> wrote:" and their
  translations (the verb list), wrapped over up to three lines by narrow clients;
- header blocks: Outlook's "From:/Sent:/To:/Subject:" lines and their translations, bold
  ("*From:*"), with "Date:" for "Sent:", under a separator ("-----Original Message-----",
  Outlook's line of underscores, Samsung's "-------- Original message --------", QQ's ...);
- forward separators ("---------- Forwarded message ---------", "Begin forwarded message:"):
  the customer sends that message on purpose, so what follows is theirs.
Wording seeded from mail-parser-reply's per-language lists, quotequail's and talon's
patterns (MIT, Apache-2.0; patterns only, no code), extended to the clients' own strings.
Every check bounds the length it looks at, so a 1 MB line costs one length test.
"""

from __future__ import annotations

import re

# Longest line we treat as a possible marker; anything longer is text (or quote).
MAX_MARKER = 400

# The verb of an attribution: "wrote", "schrieb", "a écrit", "写道", "작성" ...
VERBS = (
    r"wrote|writes|schrieb|geschrieben|a écrit|escribió|ha scritto|scrisse|escreveu|schreef"
    r"|geschreven|skrev|kirjoitti|napisał\(-?a\)|napisała|napisał|pisze|napsal\(a\)|napsala"
    r"|napsal|написал\(-?а\)|написала|написал|пишет|написав\(-?ла\)|написав|пише"
    r"|şunu yazdı|şunları yazdı|yazdı|写道|寫道|のメール|のメッセージ|님이 작성|작성|쓴 글"
    r"|đã viết"
)
# "... wrote:" at the end; Finnish may put the date after the verb ("kirjoitti 30.11.2026
# kello 10.14:"). Every piece is bounded, so the search is linear in the line.
_VERB_END = re.compile(
    rf"(?:{VERBS})(?:[ \t]+[\d./-]{{1,12}}(?:[ \t]+(?:klo|kello|kl\.?|at|um))?"
    r"(?:[ \t]+[\d.:]{1,8})?)?[ \t]*[:：][ \t]*$",
    re.IGNORECASE)
# "X sent:" (some mobile clients): only trusted right above ">" lines.
_SENT_END = re.compile(r"\bsent[ \t]*:[ \t]*$", re.IGNORECASE)
# Gmail in Russian, Japanese; Apple Mail in Czech: no verb, the date and "<address>:".
_ADDRESS_END = re.compile(r"[>)][ \t]*[:：][ \t]*$")
# Zoho and some phones: "---- On Mon, ... X wrote ----", "---- X wrote ----".
_DASHED = re.compile(rf"^-{{2,}}.*(?:{VERBS})[ \t]*-{{2,}}[ \t]*$", re.IGNORECASE)
# Thunderbird and Apple Mail in Germanic languages put the name after the verb:
# "Am 30.11.26 um 09:14 schrieb Support team:", "Den 2026-11-30 kl. 09:14, skrev X:".
_LEADING = re.compile(
    r"^(?:(?:on|am|op|den|le|el|il|em|w dniu|dne|vào|在)\b.{0,200}?"
    rf"\b(?:{VERBS})\b[^:：]{{0,100}}"
    r"|wiadomość napisana przez .{0,300})[:：][ \t]*$",  # Apple Mail in Polish
    re.IGNORECASE)
_VERB_TAIL = 80  # the verb and a date after it fit in the line's last 80 characters
_TIME = re.compile(r"\d{1,2}[:.h]\d{2}")
_SENTENCE_END = (".", "!", "?", "。", "！", "？")


def attribution_strength(joined: str) -> int:
    """2: an attribution even with no ">" under it (the quote may be unmarked, as Yahoo's
    and Zoho's are); 1: only right above ">" lines; 0: not an attribution."""
    text = joined.strip()
    if not text or len(text) > MAX_MARKER:
        return 0
    if text.startswith("--") and _DASHED.match(text):
        return 2
    if not text.endswith((":", "：")):
        return 0
    has_digit = any(ch.isdigit() for ch in text)
    if _VERB_END.search(text[-_VERB_TAIL:]) or _LEADING.match(text):
        return 2 if has_digit and (_TIME.search(text) or "@" in text) else 1
    if _SENT_END.search(text):
        return 1
    if has_digit and _ADDRESS_END.search(text):
        return 1
    return 0


def may_start_wrapped(line: str) -> bool:
    """Can this line begin an attribution wrapped over several lines? It carries the date
    or the address, and does not end a sentence (so "I restarted at 8:05." stays text)."""
    text = line.strip()
    return (any(ch.isdigit() for ch in text) or "<" in text or "@" in text) and \
        not text.endswith(_SENTENCE_END)


# Header-block labels. A block starts with a "from" line and has a "sent"/"date" line
# among its next lines; it goes on over any label line.
FROM_LABELS = (
    "from", "von", "de", "da", "van", "fra", "från", "lähettäjä", "od", "от", "від", "kimden",
    "差出人", "送信元", "送信者", "发件人", "寄件者", "寄件人", "보낸 사람", "보낸사람", "발신",
    "từ", "afzender",
)
SENT_LABELS = (
    "sent", "date", "gesendet", "datum", "envoyé", "envoyé le", "enviado el", "enviado",
    "enviada", "fecha", "inviato", "data", "verzonden", "verstuurd", "sendt", "dato",
    "skickat", "lähetetty", "päivämäärä", "wysłano", "wysłane", "odesláno", "отправлено",
    "дата", "надіслано", "gönderildi", "gönderilme tarihi", "tarih", "送信日時", "日付", "发送时间",
    "日期", "時間", "보낸 날짜", "날짜", "đã gửi", "ngày", "gửi",
)
OTHER_LABELS = (
    "to", "cc", "bcc", "subject", "reply-to", "an", "kopie", "betreff", "à", "objet", "cci",
    "para", "asunto", "a", "oggetto", "assunto", "aan", "onderwerp", "til", "emne", "till",
    "ämne", "kopia", "vastaanottaja", "kopio", "aihe", "do", "temat", "dw", "komu", "předmět",
    "кому", "копия", "тема", "копія", "kime", "konu", "bilgi", "宛先", "件名", "收件人", "抄送",
    "主题", "主旨", "받는 사람", "참조", "제목", "수신", "đến", "chủ đề", "importance",
    "priority",
)


def _labels(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


_LABEL = r"[ \t]*\*?(?:{})\*?[ \t]*[:：]"
_FROM = re.compile(_LABEL.format(_labels(FROM_LABELS)), re.IGNORECASE)
_SENT = re.compile(_LABEL.format(_labels(SENT_LABELS)), re.IGNORECASE)
_ANY = re.compile(_LABEL.format(_labels(FROM_LABELS + SENT_LABELS + OTHER_LABELS)),
                  re.IGNORECASE)


def is_from_line(line: str) -> bool:
    return _FROM.match(line[:MAX_MARKER]) is not None


def is_sent_line(line: str) -> bool:
    return _SENT.match(line[:MAX_MARKER]) is not None


def is_label_line(line: str) -> bool:
    return _ANY.match(line[:MAX_MARKER]) is not None


# "-----Original Message-----" and its translations, between dashes (Samsung, QQ, Naver).
ORIGINAL_PHRASES = (
    "original message", "reply message", "ursprüngliche nachricht", "originalnachricht",
    "message d'origine", "message original", "mensaje original", "messaggio originale",
    "mensagem original", "oorspronkelijk bericht", "origineel bericht", "original meddelelse",
    "oprindelig meddelelse", "originalmeddelande", "ursprungligt meddelande",
    "opprinnelig melding", "original melding", "alkuperäinen viesti", "wiadomość oryginalna",
    "oryginalna wiadomość", "původní zpráva", "původní e-mail", "исходное сообщение",
    "оригинальное сообщение", "исходное письмо", "оригінальне повідомлення",
    "вихідне повідомлення", "orijinal mesaj", "özgün ileti", "元のメッセージ",
    "オリジナルメッセージ",
    "原始邮件", "原始信息", "原始郵件", "原邮件", "원본 이메일", "원본 메시지", "원래 메시지",
    "tin nhắn gốc", "thư gốc",
)
FORWARD_PHRASES = (
    "forwarded message", "begin forwarded message", "weitergeleitete nachricht",
    "anfang der weitergeleiteten nachricht", "message transféré", "message transmis",
    "début du message réexpédié", "début du message transféré", "mensaje reenviado",
    "inicio del mensaje reenviado", "messaggio inoltrato", "inizio messaggio inoltrato",
    "mensagem encaminhada", "início da mensagem encaminhada", "doorgestuurd bericht",
    "begin doorgestuurd bericht", "videresendt besked", "videresendt meddelelse",
    "start på videresendt besked", "vidarebefordrat meddelande", "vidarebefordrat brev",
    "videresendt melding", "välitetty viesti", "välitetty viesti alkaa",
    "przekazana wiadomość", "początek przekazywanej wiadomości", "wiadomość przekazana dalej",
    "přeposlaná zpráva", "začátek přeposílané zprávy", "пересылаемое сообщение",
    "начало переадресованного сообщения", "пересланное сообщение", "переслане повідомлення",
    "початок пересланого повідомлення", "iletilen mesaj", "İleti başlangıcı",
    "ileti başlangıcı", "yönlendirilmiş ileti", "転送されたメッセージ", "転送メッセージ",
    "转发的邮件",
    "转发的消息", "轉寄的郵件", "전달된 메일", "전달된 메시지", "thư được chuyển tiếp",
    "bắt đầu thư được chuyển tiếp", "thư đã chuyển tiếp", "tin nhắn được chuyển tiếp",
)
_ORIGINAL = frozenset(phrase.casefold() for phrase in ORIGINAL_PHRASES)
_FORWARD = frozenset(phrase.casefold() for phrase in FORWARD_PHRASES)
_MAX_PHRASE_LINE = 120


def _phrase(line: str) -> tuple[str, bool, bool]:
    """The words of a separator line without its dashes and colon, whether it had dashes
    around it, and whether it ended with a colon."""
    text = line.strip()
    dashed = text.startswith("--") and text.endswith("--")
    colon = text.endswith((":", "："))
    return text.strip(" \t-_=*:：").casefold(), dashed, colon


def is_forward_separator(line: str) -> bool:
    """"---------- Forwarded message ---------", "Begin forwarded message:" and translations."""
    if len(line) > _MAX_PHRASE_LINE:
        return False
    words, dashed, colon = _phrase(line)
    return (dashed or colon) and words in _FORWARD


def is_original_separator(line: str) -> bool:
    """"-----Original Message-----", "-------- Mensagem original --------", QQ's "原始邮件"."""
    if len(line) > _MAX_PHRASE_LINE:
        return False
    words, dashed, _ = _phrase(line)
    return dashed and words in _ORIGINAL


def is_rule_line(line: str) -> bool:
    """Outlook's divider above its header block: a line of underscores."""
    text = line.strip()
    return len(text) >= 10 and text.strip("_") == ""


# A forward's subject prefix, as the clients of the 20 languages write it ("FW:", "Fwd:",
# "WG:", "TR :", "RV:", "I:", "ENC:", "VS:", "VB:", "VL:", "PD:", "İLT:", "转发:", "전달:",
# "CT:" ...). Outlook writes a forward's header block as it writes a reply's, so a mail
# that answers nothing and says it is a forward keeps that block as its own text.
_FORWARD_SUBJECT = re.compile(
    r"[ \t]*(?:fwd?|wg|tr|rv|i|enc|vs|vb|vl|pd|doorst|i̇lt|ilt|İlt|пересл|转发|轉寄|転送|전달|ct)"
    r"[ \t]*[:：]", re.IGNORECASE)


def is_forward_subject(subject: str) -> bool:
    return _FORWARD_SUBJECT.match(subject[:MAX_MARKER]) is not None
