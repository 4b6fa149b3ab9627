"""Locust users for ECM: provider managers browsing visit logs, council officers looking over the
providers they commission, handsets publishing signed events over MQTT, and carers calling in
from homes' landlines through the telephony provider's signed webhook.

Run by `make loadtest` (loadtests/run.py), which brings up a stack and writes the accounts and
the simulated world to files named by ECM_LOADTEST_ACCOUNTS and ECM_LOADTEST_WORLD.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gevent
import httpx
from locust import HttpUser, User, between, events, task

from firmware_sim.handset import Handset
from firmware_sim.telephony import FORGERIES, TelephonyProvider
from firmware_sim.world import World
from gateway.pki.identity import device_identity
from loadtests.mqtt_handset import HandsetConnection, connect_handset

# The request name the goal is judged on: one provider's week of visits, one page.
WEEK_OF_VISITS = "GET /providers/{id}/visits (week)"


def _accounts() -> dict[str, Any]:
    return dict(json.loads(Path(os.environ["ECM_LOADTEST_ACCOUNTS"]).read_text()))


ACCOUNTS = _accounts() if "ECM_LOADTEST_ACCOUNTS" in os.environ else {}
# Seconds a person pauses between pages (min,max): ECM_LOADTEST_WAIT, set by `--wait`.
WAIT_MIN_S, WAIT_MAX_S = (
    float(x) for x in os.environ.get("ECM_LOADTEST_WAIT", "2,6").split(",", maxsplit=1)
)
# Seconds between one SignIn user's sign-ins (min, max).
SIGN_IN_EVERY_S = (30.0, 90.0)
_manager_turn = itertools.count()
_officer_turn = itertools.count()
_handset_turn = itertools.count()
_caller_turn = itertools.count()
# What a call's last answer starts with when it recorded a check-in or check-out.
RECORDED = ("Checked in", "Checked out")


def arrive(shortest_pause_s: float, longest_pause_s: float) -> None:
    """Before the first request, pause as long as what is left of a pause between requests
    (each `shortest_pause_s` to `longest_pause_s`) at a moment picked at random.

    Locust starts users `--spawn-rate` a second, and each makes its first request the moment it
    starts: 100 people opening their first page (or signing in) within five seconds of each
    other, a burst no working day has. People already at work are each somewhere in the pause
    between two pages when the measurement begins; this puts each user there. A random moment
    falls in a long pause more often than in a short one (in proportion to its length), so the
    pause is drawn that way, then the moment within it: from the first request on, requests
    come at the rate of the steady state, neither bunched at the start nor thinned out."""
    low_squared = shortest_pause_s**2
    pause = math.sqrt(low_squared + random.random() * (longest_pause_s**2 - low_squared))
    gevent.sleep(random.uniform(0, pause))


class SignedInUser(HttpUser):
    abstract = True
    wait_time = between(WAIT_MIN_S, WAIT_MAX_S)
    days: list[str] = ACCOUNTS.get("days", [])

    def use_token(self, account: dict[str, str]) -> None:
        # The driver signed each account in once; a person keeps a token for its lifetime.
        self.client.headers["Authorization"] = f"Bearer {account['token']}"


class ProviderManager(SignedInUser):
    weight = 6

    def on_start(self) -> None:
        arrive(WAIT_MIN_S, WAIT_MAX_S)
        managers = ACCOUNTS["provider_managers"]
        account = managers[next(_manager_turn) % len(managers)]
        self.provider_id = account["provider_id"]
        self.use_token(account)

    @task(4)
    def week_of_visits(self) -> None:
        self.client.get(
            f"/providers/{self.provider_id}/visits", params={"limit": 500}, name=WEEK_OF_VISITS
        )

    @task(3)
    def one_day(self) -> None:
        self.client.get(
            f"/providers/{self.provider_id}/visits",
            params={"date": random.choice(self.days)},
            name="GET /providers/{id}/visits?date",
        )

    @task(1)
    def summary(self) -> None:
        self.client.get(
            f"/providers/{self.provider_id}/visits/summary",
            params={"date": random.choice(self.days)},
            name="GET /providers/{id}/visits/summary",
        )


class CouncilOfficer(SignedInUser):
    weight = 3

    def on_start(self) -> None:
        arrive(WAIT_MIN_S, WAIT_MAX_S)
        officers = ACCOUNTS["council_officers"]
        account = officers[next(_officer_turn) % len(officers)]
        self.use_token(account)
        listed = self.client.get("/providers", name="GET /providers").json()["items"]
        self.providers = [p["id"] for p in listed]

    @task(2)
    def providers_list(self) -> None:
        self.client.get("/providers", name="GET /providers")

    @task(3)
    def a_providers_day(self) -> None:
        self.client.get(
            f"/providers/{random.choice(self.providers)}/visits",
            params={"date": random.choice(self.days)},
            name="GET /providers/{id}/visits?date",
        )

    @task(1)
    def a_providers_week(self) -> None:
        self.client.get(
            f"/providers/{random.choice(self.providers)}/visits",
            params={"limit": 500},
            name=WEEK_OF_VISITS,
        )


class SignIn(HttpUser):
    """People signing in (argon2id verification). 100 people renewing 15-minute tokens sign in
    about 0.1 times a second; these users do it somewhat more often."""

    weight = 1
    wait_time = between(SIGN_IN_EVERY_S[0], SIGN_IN_EVERY_S[1])

    def on_start(self) -> None:
        arrive(*SIGN_IN_EVERY_S)

    @task
    def sign_in(self) -> None:
        account = random.choice(ACCOUNTS["provider_managers"])
        self.client.post(
            "/auth/token",
            data={"username": account["username"], "password": account["password"]},
            name="POST /auth/token",
        )


class HandsetUser(User):
    """A carer's phone: signs check-ins and check-outs (firmware_sim.Handset) and publishes each
    at QoS 1, timing the broker's PUBACK."""

    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        world = World.load(os.environ["ECM_LOADTEST_WORLD"])
        carers = [c for c in world.carers if world.visits_of(c.id)]
        carer = carers[next(_handset_turn) % len(carers)]
        self.handset = Handset.for_carer(world, carer.id)
        self.visits = world.visits_of(carer.id)
        host, port = ACCOUNTS["mqtt_host"], int(ACCOUNTS["mqtt_port"])
        identity = device_identity(Path(ACCOUNTS["state_dir"]), self.handset.device_id)
        self.connection: HandsetConnection = connect_handset(
            host, port, self.handset.device_id, identity
        )

    def on_stop(self) -> None:
        self.connection.close()

    @task
    def visit(self) -> None:
        visit = random.choice(self.visits)
        now = datetime.now(UTC)
        for kind, event in (
            ("check_in", self.handset.check_in(visit, now)),
            ("check_out", self.handset.check_out(visit, now + timedelta(seconds=1))),
        ):
            started = time.perf_counter()
            try:
                elapsed_ms = self.connection.publish(event.topic, event.token)
                error: Exception | None = None
            except Exception as exc:  # reported to locust as a failed request
                elapsed_ms, error = (time.perf_counter() - started) * 1000, exc
            events.request.fire(
                request_type="MQTT",
                name=f"publish {kind}",
                response_time=elapsed_ms,
                response_length=len(event.token),
                exception=error,
                context={},
            )


class TelephonyCaller(User):
    """A carer calling from the landlines of the homes on their round, as Twilio delivers it:
    three signed webhook requests per call (the call, the carer number, the PIN), timed as one
    call. Each carer goes from home to home, so a call is a check-in, and a check-out when the
    carer comes back to a home; one call in ten is a forged request, which must get 403."""

    weight = 1
    wait_time = between(5, 15)

    def on_start(self) -> None:
        world = World.load(os.environ["ECM_LOADTEST_WORLD"])
        carer = world.carers[next(_caller_turn) % len(world.carers)]
        number = world.provider(carer.provider_id).phone_number
        lines = [su.landline for su in world.service_users if su.landline]
        assert number and carer.carer_number and carer.pin and lines
        self.number, self.lines = number, lines
        self.keyed = [carer.carer_number, carer.pin]
        self.turn = random.randrange(len(lines))
        self.client = httpx.Client(timeout=30)
        self.provider = TelephonyProvider(
            self.client, ACCOUNTS["telephony_url"], ACCOUNTS["telephony_token"]
        )

    def on_stop(self) -> None:
        self.client.close()

    @task(9)
    def call(self) -> None:
        line = self.lines[self.turn % len(self.lines)]
        self.turn += 1
        started = time.perf_counter()
        error: Exception | None = None
        try:
            result = self.provider.call(line, self.number, self.keyed)
            # A repeat (a carer back at a home within two minutes) is a right answer too.
            if not result.last_said.startswith((*RECORDED, "You checked")):
                error = RuntimeError(f"call not recorded: {result.last_said!r}")
        except Exception as exc:  # reported to locust as a failed request
            error = exc
        events.request.fire(
            request_type="WEBHOOK",
            name="landline call (3 signed requests)",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )

    @task(1)
    def forged(self) -> None:
        started = time.perf_counter()
        name = random.choice(FORGERIES)
        exchange = self.provider.forge(name, self.lines[0], self.number)
        events.request.fire(
            request_type="WEBHOOK",
            name="forged webhook (403 expected)",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(exchange.body),
            exception=None if exchange.status == 403 else RuntimeError(f"{name}: answered"),
            context={},
        )
