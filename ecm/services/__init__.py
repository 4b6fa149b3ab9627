"""Private PostgreSQL and Mosquitto for development, tests and the demo.

Both run from a project-local state folder on free loopback ports, so a system cluster or a
broker on 5432/1883 is never touched. `up()` leaves them running for `ecm services down`;
`running()` owns them as child processes and stops them when the block exits, even on Ctrl-C,
and the kernel stops them if the owner is killed outright (see `process.child_preexec`).
"""

from ecm.services.stack import Endpoints, down, running, status, up

__all__ = ["Endpoints", "down", "running", "status", "up"]
