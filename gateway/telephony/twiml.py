"""Answers to the telephony provider in its markup (TwiML): what to say, what to collect next.

Every answer is a complete document; the texts are escaped, so nothing a caller keyed or a name
in the registry can change the markup.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

CONTENT_TYPE = "application/xml"
LANGUAGE = "en-GB"
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def _say(text: str) -> str:
    return f"<Say language={quoteattr(LANGUAGE)}>{escape(text)}</Say>"


NO_DIGITS = "We did not receive any digits. Nothing has been recorded. Goodbye."


def gather(prompt: str, action: str, *, max_digits: int, timeout_s: int = 10) -> str:
    """Say `prompt` and collect digits ended by the hash key, posted to `action`.

    `actionOnEmptyResult` makes the provider post to `action` even when nothing was keyed, so
    the call desk records why the call ended (refusal `no_digits`). The words after the
    Gather are only for a provider that ignores that attribute and falls through instead."""
    attributes = {
        "input": "dtmf",
        "action": action,
        "method": "POST",
        "finishOnKey": "#",
        "numDigits": str(max_digits),
        "timeout": str(timeout_s),
        "actionOnEmptyResult": "true",
    }
    rendered = " ".join(f"{name}={quoteattr(value)}" for name, value in attributes.items())
    return (
        f"{_HEAD}<Response><Gather {rendered}>{_say(prompt)}</Gather>"
        f"{_say(NO_DIGITS)}<Hangup/></Response>"
    )


def say_and_hang_up(text: str) -> str:
    return f"{_HEAD}<Response>{_say(text)}<Hangup/></Response>"
