"""Where the customer's signature starts in a block of their own text.

A signature is kept (the reply model returns it) but told apart, so the text agents read
and the commands we look for ("yes, that fixed it", a rating) are the customer's words:
- the "-- " delimiter: everything under it (not the delimiter itself);
- "Sent from my iPhone" and the phones' and apps' translations;
- a sign-off ("Best regards,", "Mit freundlichen Grüßen", "С уважением,", "祝好，" ...) with
  at most a few short lines (a name, a company, a phone) under it.
"""

from __future__ import annotations

import re

SIGN_OFFS = (
    # en
    "best regards", "kind regards", "regards", "best", "thanks", "thank you", "many thanks",
    "cheers", "best wishes", "warm regards", "sincerely", "yours sincerely", "all the best",
    # de
    "viele grüße", "mit freundlichen grüßen", "freundliche grüße", "beste grüße",
    "liebe grüße", "grüße", "vg", "mfg", "lg", "gruß", "viele grüsse",
    "mit freundlichen grüssen",
    # fr, es, it, pt
    "cordialement", "bien cordialement", "bien à vous", "salutations",
    "sincères salutations", "saludos", "un saludo", "atentamente", "saludos cordiales",
    "un abrazo", "cordiali saluti", "saluti", "distinti saluti", "un saluto",
    "atenciosamente", "abraços", "cumprimentos", "att",
    # nl, da, sv, no, fi
    "met vriendelijke groet", "met vriendelijke groeten", "vriendelijke groet", "groeten",
    "groet", "mvg", "med venlig hilsen", "venlig hilsen", "hilsen", "mvh",
    "med vänliga hälsningar", "vänliga hälsningar", "hälsningar", "med vennlig hilsen",
    "vennlig hilsen", "ystävällisin terveisin", "terveisin", "ystävällisesti",
    # pl, cs, ru, uk, tr
    "pozdrawiam", "z poważaniem", "pozdrowienia", "s pozdravem", "с уважением",
    "всего доброго", "з повагою", "saygılarımla", "iyi çalışmalar",
    # ja, zh, ko, vi
    "よろしくお願いいたします", "よろしくお願いします", "宜しくお願いいたします", "祝好", "此致",
    "此致敬礼", "감사합니다", "고맙습니다", "trân trọng", "thân ái",
)
_SIGN_OFFS = frozenset(word.casefold() for word in SIGN_OFFS)

# "Sent from my iPhone" and translations; each anchored and bounded.
_SENT_FROM = re.compile(
    r"(?:sent from (?:my |mail for |yahoo mail|outlook)|get outlook for "
    r"|von mein\S{0,12} .{1,40}gesendet$"
    r"|gesendet von (?:meinem )?|envoyé (?:de|depuis) mon |enviado desde mi |enviado do meu "
    r"|inviato da |inviato dal mio |(?:verstuurd|verzonden) (?:vanaf|met|van) mijn "
    r"|sendt fra min |skickat från min |lähetetty \S{1,40}(?:sta|stä)$|wysłane z "
    r"|odesláno z |отправлено (?:с|из) |надіслано з |.{1,40} gönderildi$|.{1,30}から送信$"
    r"|发自我的|从我的.{1,30}发送$|.{1,30}에서 보냄$|gửi từ .{1,30} của tôi$)",
    re.IGNORECASE)
_MAX_SIGNATURE_LINE = 120
_MAX_NAME_LINE = 60
_MAX_LINES_UNDER = 4


def is_delimiter(line: str) -> bool:
    """The "-- " line (RFC 3676); trailing spaces are often lost on the way."""
    return line.rstrip() == "--"


def is_sent_from(line: str) -> bool:
    text = line.strip()
    return len(text) <= _MAX_SIGNATURE_LINE and _SENT_FROM.match(text) is not None


def is_sign_off(line: str) -> bool:
    text = line.strip()
    if not text or len(text) > _MAX_NAME_LINE:
        return False
    return text.rstrip(" ,.!;:，。！、").casefold() in _SIGN_OFFS


def _fits_under_sign_off(line: str) -> bool:
    text = line.strip()
    return is_sent_from(text) or is_delimiter(text) or (
        len(text) <= _MAX_NAME_LINE and not text.endswith((".", "!", "?", ":", "。", "？")))


def signature_start(lines: list[str]) -> int | None:
    """The first line of one own block that is signature (a "-- " line, a sign-off,
    "Sent from ..."), or None. Only the last few non-blank lines can start a sign-off, so
    this is linear in the block."""
    delimiter = next((index for index, line in enumerate(lines) if is_delimiter(line)), None)
    end = len(lines) if delimiter is None else delimiter
    filled = [index for index in range(end) if lines[index].strip()]
    for position, index in enumerate(filled[-(_MAX_LINES_UNDER + 1):]):
        if is_sent_from(lines[index]) or is_sign_off(lines[index]):
            under = [lines[rest] for rest in filled[-(_MAX_LINES_UNDER + 1):][position + 1:]]
            if all(map(_fits_under_sign_off, under)):
                return index
    if delimiter is not None:
        return delimiter
    return None
