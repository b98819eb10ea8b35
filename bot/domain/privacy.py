"""Personal data (个人信息保护法): the one masking rule for free text and contact fields.

What is displayed, exported, pushed or published passes through here. Searching is not masking:
a dispatcher still finds an event by the full phone number; only what is shown is masked.

* ID-card numbers (18 digits, last may be X) are masked for every reader, everywhere: nobody's
  work needs them on a screen or in a spreadsheet.
* Contacts — mobiles, landlines, e-mail addresses — are shown whole only to readers who call
  residents back (dispatchers and admins, `keep_contacts=True`); masked for viewers, in ledgers,
  pushes to volunteers, the showcase and the public Open311 API.

Event numbers (WL20261123-0042), dates, money amounts and short numbers such as 12345 are left as
they are: the patterns demand a whole run of digits of the right shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_MOBILE = re.compile(r"(?<![0-9])((?:\+?86[- ]?)?1[3-9][0-9])[- ]?([0-9]{4})[- ]?([0-9]{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0[1-9][0-9]{1,2})([- ]?)([2-9][0-9]{2,3})([0-9]{4})(?![0-9])")
_ID_CARD = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9A-Za-z])")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_NOT_DIGIT = re.compile(r"\D")


def mask_text(text: str | None, *, keep_contacts: bool = False) -> str:
    """420106199001011234 → 420106********1234; unless keep_contacts, also 13912345678 → 139****5678,
    027-87654321 → 027-****4321 and zhang.san@example.com → z***@example.com. None → ""."""
    if not text:
        return ""
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    if keep_contacts:
        return text
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}{m.group(2)}****{m.group(4)}", text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***{m.group(2)}", text)


def mask_phone(phone: str | None) -> str | None:
    """A phone field (nothing else in it): 13812345678 → 138****5678, +86 139 1234 5678 → +86 139****5678,
    027-87654321 → 027-****4321; any other shape keeps its first 3 and last 4 digits; short ones → ****."""
    if not phone:
        return phone
    masked = mask_text(phone)
    if masked != phone:
        return masked
    digits = _NOT_DIGIT.sub("", phone)
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 7 else "****"


def mask_name(name: str | None) -> str:
    """周红 → 周*, 欧阳娜娜 → 欧***: a public page never shows a whole name (志愿者 when there is none)."""
    name = (name or "").strip()
    return (name[0] + "*" * max(1, len(name) - 1)) if name else "志愿者"


def for_reader(keep_contacts: bool) -> tuple[Callable[[str | None], str | None], Callable[[str | None], str | None]]:
    """(text, phone): how free text and phone fields are shown to one reader. Empty values stay
    as they are (None stays null in JSON)."""
    if keep_contacts:
        return (lambda text: mask_text(text, keep_contacts=True) if text else text), (lambda phone: phone)
    return (lambda text: mask_text(text) if text else text), mask_phone
