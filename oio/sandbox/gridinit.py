"""`gridinit_cmd` for the sandbox: OpenIO's functional tests stop and start
services with `gridinit_cmd -S <socket> <action> <name>...`, the command of
OpenIO's process supervisor. Ours is supervisord; this command takes the
same arguments and drives the sandbox named by OIO_SDS_CONF (the test bed's
testbed.env exports it), so those tests run unchanged.

Names are program names (`OPENIO-rawx-3`) or groups as gridinit knows them:
`@<type>` (`@rawx`, `@meta2`, `@event` for the event agents) and
`@<namespace>` for every service. A group with no service here (`@indexer`:
the test bed runs no indexer) is done at once. The socket is not used.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from .sandbox import Sandbox, SandboxError

ACTIONS = ("reload", "restart", "start", "status", "stop")


# gridinit's group of a type, where it is not the type's name.
GROUP_TYPES = {"event": "event-agent"}


def sandbox_root(environ: dict[str, str] = os.environ) -> str:
    """The sandbox of `OIO_SDS_CONF` (`<root>/conf/sds.conf`)."""
    conf = environ.get("OIO_SDS_CONF")
    if not conf:
        raise SandboxError("OIO_SDS_CONF is not set: source the test bed's "
                           "conf/testbed.env first")
    return os.path.dirname(os.path.dirname(os.path.abspath(conf)))


def expand(names: list[str], programs: list[str], namespace: str
           ) -> list[str]:
    """Program names of `names` (programs or @groups); ValueError for a
    name that is neither a program nor a group."""
    out: list[str] = []
    for name in names:
        if not name.startswith("@"):
            if name not in programs:
                raise ValueError(f"unknown service {name}")
            out.append(name)
            continue
        group = name[1:]
        if group == namespace:
            out.extend(programs)
            continue
        kind = GROUP_TYPES.get(group, group)
        pattern = re.compile(rf"^{re.escape(namespace)}-{re.escape(kind)}-\d+$")
        out.extend(p for p in programs if pattern.match(p))
    return out


def run(sandbox: Sandbox, action: str, name: str, state: str) -> None:
    """One action on one program; a start waits until the service listens,
    as the tests go on using it at once."""
    if action == "status":
        print(f"{name} {state}")
        return
    if action in ("stop", "restart", "reload"):
        sandbox.stop_service(name)
    if action != "stop":
        sandbox.start_service(name)
    print(f"{name} {action} done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gridinit_cmd",
        description="Start, stop or restart sandbox services as OpenIO's "
                    "gridinit_cmd does (for OpenIO's functional tests).")
    parser.add_argument("-S", "--socket", help="ignored (gridinit's socket)")
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    try:
        sandbox = Sandbox.load(sandbox_root())
        states = sandbox.program_states()
        targets = expand(args.names or ["@" + sandbox.settings.namespace],
                         list(states), sandbox.settings.namespace)
        for name in targets:
            run(sandbox, args.action, name, states[name])
    except (SandboxError, ValueError, OSError) as err:
        print(f"gridinit_cmd: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
