"""Telephone numbers in E.164 form, and callers who withhold theirs.

Landlines are registered the way people write them ("01603 123456", "+44 (0)1603 123456") and
stored in E.164 ("+441603123456"), the form telephony providers send in their webhooks, so a
lookup by caller number is an exact match. Numbers without a country code are British.
"""

from __future__ import annotations

import re

UK_CODE = "44"
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
_E164 = re.compile(E164_PATTERN)
_SEPARATORS = re.compile(r"[\s\-.()/]")
# What providers put in the caller field when the caller withheld their number. Twilio sends
# keypad spellings as numbers (+266696687 is "ANONYMOUS", +7378742833 "RESTRICTED", +2562533
# "BLOCKED", +8656696 "UNAVAIL", +86282452253 "UNAVAILABLE"); others send words or nothing.
WITHHELD_NUMBERS = frozenset({"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"})
WITHHELD_WORDS = frozenset(
    {"", "anonymous", "restricted", "blocked", "private", "unknown", "unavailable", "withheld"}
)


class NumberError(ValueError):
    """A string that is not a telephone number we can put in E.164 form."""


def is_withheld(caller: str | None) -> bool:
    if caller is None:
        return True
    text = caller.strip()
    return text.lower() in WITHHELD_WORDS or text in WITHHELD_NUMBERS


def to_e164(number: str) -> str:
    """E.164 form of a number as people write it; British when it has no country code."""
    text = number.strip()
    # "+44 (0)1603 ..." writes the trunk prefix that is dialled only within the country.
    text = text.replace("(0)", "")
    text = _SEPARATORS.sub("", text)
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.startswith("0"):
        text = "+" + UK_CODE + text[1:]
    if not _E164.match(text):
        raise NumberError(f"{number!r} is not a telephone number (E.164: + and 7 to 15 digits)")
    if text.startswith("+" + UK_CODE):
        national = text[1 + len(UK_CODE) :]
        # British national numbers are 9 or 10 digits after the 0 is dropped.
        if not 9 <= len(national) <= 10 or national.startswith("0"):
            raise NumberError(f"{number!r} is not a British number (+44 then 9 or 10 digits)")
    return text
