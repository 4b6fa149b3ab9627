"""kill -9 of the events stream's leader mid-burst, without end-to-end receipts: what is lost.

    .venv/bin/python -m loadtests.leader_kill [--trials 5]

The suite runs this once (tests/cluster/test_cluster_faults.py); this repeats it on a fresh
cluster per trial (ingest on JetStream, handsets over MQTT 3.1.1 on another node than the
leader), to count over several leader changes. With the earlier design (a separate stream
capturing the events subjects) it lost PUBACKed events:
loadtests/results/leader_kill_capture_stream.json. Writes loadtests/results/leader_kill.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from ecm.services.nats import healthy
from tests.cluster.harness import ClusterDevices, ClusterIngest, cluster_stack
from tests.faults.harness import publish_paced, register_fleet, settle_and_count

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "loadtests" / "results"


def trial(events: int, seconds: float) -> dict[str, object]:
    with cluster_stack() as stack, tempfile.TemporaryDirectory() as scratch:
        fleet = register_fleet(stack, 20)  # type: ignore[arg-type]
        view = stack.view()
        assert view.stream_leader is not None
        leader = stack.node_index(view.stream_leader)
        # Handsets on another node than the leader, as the notes found the loss.
        node = (leader + 1) % 3
        with (
            ClusterIngest(stack, workers=2),
            ClusterDevices(stack, Path(scratch) / "outbox.sqlite", node=node) as devices,
        ):
            publisher = threading.Thread(
                target=publish_paced, args=(devices, fleet, events, seconds)
            )
            publisher.start()
            time.sleep(seconds / 3)
            stack.processes.kill_node(leader)
            publisher.join()
            devices.deliver_everything(timeout_s=120)
            stack.processes.start_node(leader)
            counts = settle_and_count(stack, fleet, devices, f"kill -9 stream leader n{leader + 1}")  # type: ignore[arg-type]
            deadline = time.monotonic() + 60
            while not healthy(stack.endpoints.nats[leader].monitor) and time.monotonic() < deadline:
                time.sleep(0.2)
        return {
            "killed": f"n{leader + 1}",
            "handsets_on": f"n{node + 1}",
            "sent": counts.sent,
            "confirmed": counts.confirmed,
            "stored": counts.stored,
            "lost": counts.lost,
            "duplicated": counts.duplicated,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    results = [trial(args.events, args.seconds) for _ in range(args.trials)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "receipts": False,
        "design": "ingest's consumer on the MQTT layer's $MQTT_msgs stream",
        "trials": results,
    }
    (RESULTS / "leader_kill.json").write_text(json.dumps(document, indent=2) + "\n")
    for result in results:
        print(result)


if __name__ == "__main__":
    main()
