"""A simulated telephony provider: it plays Twilio to the bridge's voice webhook.

A call is what Twilio does when someone rings a number whose voice URL is our webhook: POST the
call's parameters (form-encoded) to the voice URL, signed with `X-Twilio-Signature`; read the
TwiML answer; where it says <Gather>, collect the digits the caller keys and POST them, with
the call's parameters, to the Gather's action URL; stop at <Hangup/> or when nothing is left.
An empty entry keys nothing: the Gather times out, and the action is posted with no digits only
where the Gather asks for that (`actionOnEmptyResult`). When the call is over, `hang_up` sends
the number's status callback.

It also forges what an attacker would send: no signature, a signature under another token, a
signed request altered afterwards, and a signed request sent again.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from gateway.telephony import signature

VOICE_PATH = "/telephony/voice"
STATUS_PATH = "/telephony/voice/status"
ACCOUNT_SID = "AC" + "0" * 32
ANONYMOUS = "+266696687"  # how Twilio shows a withheld number
FORGERIES = ("unsigned", "wrong token", "tampered")


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


@dataclass(frozen=True)
class Exchange:
    """One webhook request and the answer to it."""

    url: str
    params: tuple[tuple[str, str], ...]
    headers: dict[str, str]
    status: int
    body: str

    @property
    def said(self) -> list[str]:
        """Everything the answer would say if the caller keyed nothing."""
        return spoken(self.body) if self.status == 200 else []

    @property
    def prompt(self) -> list[str]:
        """What the caller hears before keying digits: the Gather's prompt."""
        return spoken(self.body, within_gather=True) if self.status == 200 else []


@dataclass
class CallResult:
    call_sid: str
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def said(self) -> list[str]:
        """What the caller heard: each prompt they answered, then the last answer in full."""
        if not self.exchanges:
            return []
        *answered, last = self.exchanges
        return [text for exchange in answered for text in exchange.prompt] + last.said

    @property
    def last_said(self) -> str:
        said = self.said
        return said[-1] if said else ""

    @property
    def statuses(self) -> list[int]:
        return [exchange.status for exchange in self.exchanges]


def spoken(twiml: str, *, within_gather: bool = False) -> list[str]:
    """The texts a TwiML answer says, in order (the Gather's prompt first); only the Gather's
    with `within_gather`."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return []
    scope = root.find("Gather") if within_gather else root
    return [] if scope is None else [element.text or "" for element in scope.iter("Say")]


def gather_action(twiml: str, *, empty: bool = False) -> str | None:
    """Where the answer's Gather posts the digits; with `empty`, where it posts when nothing
    was keyed (None: the provider falls through to what follows the Gather)."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return None
    gather = root.find("Gather")
    if gather is None or (empty and gather.get("actionOnEmptyResult") != "true"):
        return None
    return gather.get("action")


class TelephonyProvider:
    """Twilio as the bridge sees it: `base_url` is where our voice URL lives (the URL the
    provider signs), `client` posts there."""

    def __init__(self, client: httpx.Client, base_url: str, auth_token: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token

    @property
    def voice_url(self) -> str:
        return self.base_url + VOICE_PATH

    def call(
        self,
        caller: str,
        called: str,
        keyed: Sequence[str],
        *,
        call_sid: str | None = None,
    ) -> CallResult:
        """Ring `called` from `caller` and key each entry of `keyed` (digits, hash added) at
        each prompt, in turn, until the answer stops asking."""
        result = CallResult(call_sid or new_call_sid())
        base = self._call_params(result.call_sid, caller, called)
        exchange = self.post(self.voice_url, base)
        result.exchanges.append(exchange)
        for digits in keyed:
            ok = exchange.status == 200
            action = gather_action(exchange.body, empty=not digits) if ok else None
            if action is None:
                break
            finished = [("FinishedOnKey", "#")] if digits else []
            params = [
                *((k, "in-progress" if k == "CallStatus" else v) for k, v in base),
                ("Digits", digits),
                *finished,
                ("msg", "Gather End"),
            ]
            exchange = self.post(urljoin(self.voice_url, action), params)
            result.exchanges.append(exchange)
        return result

    def hang_up(self, result: CallResult, status: str = "completed") -> Exchange:
        """The number's status callback when the call is over (the caller hung up, or the
        provider ended it), signed like every request."""
        first = result.exchanges[0]
        params = [
            *((k, status if k == "CallStatus" else v) for k, v in first.params),
            ("CallDuration", "23"),
        ]
        return self.post(self.base_url + STATUS_PATH, params)

    def post(
        self,
        url: str,
        params: Sequence[tuple[str, str]],
        *,
        token: str | None = None,
        signed: bool = True,
        altered: Sequence[tuple[str, str]] | None = None,
    ) -> Exchange:
        """POST form fields signed as the provider signs them. `token` signs with another
        auth token; `signed=False` sends no signature; `altered` signs `params` but sends
        these fields instead (a request changed in transit)."""
        headers: dict[str, str] = {}
        if signed:
            headers[signature.SIGNATURE_HEADER] = signature.sign(
                token or self.auth_token, url, params
            )
        sent = tuple(altered if altered is not None else params)
        response = self.client.post(
            url,
            data=dict(sent),
            headers={"content-type": "application/x-www-form-urlencoded", **headers},
        )
        return Exchange(url, sent, headers, response.status_code, response.text)

    def replay(self, exchange: Exchange) -> Exchange:
        """Send a request again exactly as it was sent (a provider retry, or an attacker)."""
        response = self.client.post(
            exchange.url,
            data=dict(exchange.params),
            headers={"content-type": "application/x-www-form-urlencoded", **exchange.headers},
        )
        return Exchange(
            exchange.url, exchange.params, exchange.headers, response.status_code, response.text
        )

    def forged(self, caller: str, called: str) -> Iterator[tuple[str, Exchange]]:
        """The forgeries an attacker without the auth token can send, each with its name."""
        for kind in FORGERIES:
            yield kind, self.forge(kind, caller, called)

    def forge(self, kind: str, caller: str, called: str) -> Exchange:
        """One forged "a call arrives" request: `unsigned`, signed with a `wrong token`, or
        `tampered` (signed, then its caller number changed)."""
        params = self._call_params(new_call_sid(), caller, called)
        if kind == "unsigned":
            return self.post(self.voice_url, params, signed=False)
        if kind == "wrong token":
            return self.post(self.voice_url, params, token=secrets.token_hex(16))
        if kind == "tampered":
            other = [(k, "+441632960999" if k == "From" else v) for k, v in params]
            return self.post(self.voice_url, params, altered=other)
        raise ValueError(f"no forgery called {kind!r}")

    def _call_params(self, call_sid: str, caller: str, called: str) -> list[tuple[str, str]]:
        return [
            ("AccountSid", ACCOUNT_SID),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", call_sid),
            ("CallStatus", "ringing"),
            ("Called", called),
            ("Caller", caller),
            ("Direction", "inbound"),
            ("From", caller),
            ("FromCountry", "GB"),
            ("To", called),
            ("ToCountry", "GB"),
        ]
