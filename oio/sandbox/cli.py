"""`oio-sandbox`: a whole namespace on this machine.

    oio-sandbox up        write the configuration (first time), start, wait
                          (--replicas 3: every meta base on 3 services;
                          --testbed: what OpenIO's own functional tests
                          need, see docs/upstream-tests.md)
    oio-sandbox status    every service, its state and score
    oio-sandbox stop X    stop one service by name (e.g. OPENIO-rawx-3)
    oio-sandbox start X   start it again
    oio-sandbox down      stop everything
    oio-sandbox reset     stop everything and delete all data
    oio-sandbox demo      store /etc/magic (or a file) and read it back
"""

from __future__ import annotations

import argparse
import os
import sys

from oio.common.configuration import parse_size
from oio.common.exceptions import OioException
from oio.sandbox.layout import SandboxSettings
from oio.sandbox.sandbox import STATE_FILE, Sandbox, SandboxError

DEFAULT_ROOT = os.path.expanduser("~/.oio/sds")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oio-sandbox", description="Run an OpenIO-compatible namespace "
        "on this machine.")
    parser.add_argument("--root", default=DEFAULT_ROOT,
                        help="directory holding configuration, data and logs "
                        "(default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bootstrap (first time), start and wait")
    up.add_argument("--ns", default="OPENIO", help="namespace name")
    up.add_argument("--port", type=int, default=6000,
                    help="first port; services take the following ones")
    up.add_argument("--nb-rawx", type=int, default=None,
                    help="rawx services (default 9, 12 with --testbed)")
    up.add_argument("--chunk-size", default=None,
                    help="chunk size, e.g. 1M, 10M (default 10M, 1M with "
                    "--testbed)")
    up.add_argument("--policy", default=None,
                    help="default storage policy (default THREECOPIES, "
                    "SINGLE with --testbed)")
    up.add_argument("--testbed", action="store_true",
                    help="a test bed for OpenIO 7.2's own functional tests: "
                    "every event also copied to the tube oio-preserved, "
                    "conf/test.yml and conf/testbed.env written, no "
                    "self-healing daemons, ~/.oio/sds.conf left alone "
                    "(docs/upstream-tests.md)")
    up.add_argument("--no-fsync", action="store_true",
                    help="do not fsync chunks (faster, not durable)")
    up.add_argument("--replicas", type=int, choices=(1, 3), default=1,
                    help="copies of each meta base: 3 runs three services "
                    "of each meta type with a master per base elected in "
                    "ZooKeeper (default %(default)s)")
    up.add_argument("--hosts", default="",
                    help="lay the namespace over these hosts (comma-"
                    "separated addresses, e.g. 127.0.0.2,127.0.0.3,"
                    "127.0.0.4 on one machine): services of each on its "
                    "address (docs/multi-host.md)")
    up.add_argument("--this-host", default="",
                    help="with --hosts, on real hosts: start only the "
                    "services of this one (run the same command on each)")
    up.add_argument("--timeout", type=float, default=120)
    sub.add_parser("down", help="stop every service")
    sub.add_parser("status", help="show services, states and scores")
    sub.add_parser("reset", help="stop and delete everything")
    for name in ("stop", "start"):
        cmd = sub.add_parser(name, help=f"{name} one service by name")
        cmd.add_argument("service")
    demo = sub.add_parser("demo", help="put then get an object")
    demo.add_argument("path", nargs="?", default="/etc/magic")
    return parser


def _print_summary(sandbox: Sandbox) -> None:
    s = sandbox.settings
    print(f"\nNamespace {s.namespace} is up. Configuration: {s.sds_conf}")
    if s.user_conf:
        print("  (also written to ~/.oio/sds.conf: "
              f"ObjectStorageApi({s.namespace!r}) finds the proxy)")
    if s.testbed:
        print(f"  test bed: {s.test_conf}\n  before OpenIO's tests: "
              f"source {s.test_env}")
    print(f"  data: {s.data_dir}\n  logs: {s.log_dir}")
    for spec in s.services:
        print(f"  {spec.name:<24} {spec.addr}")


def settings_from_args(args) -> SandboxSettings:
    """The settings of a new sandbox from `oio-sandbox up` arguments."""
    # OpenIO's test bed: 12 rawx (their EC tests skip with fewer), 1 MiB
    # chunks, one copy; no daemon touching chunks behind their back.
    defaults = (12, "1M", "SINGLE") if args.testbed else \
        (9, "10M", "THREECOPIES")
    return SandboxSettings(
        namespace=args.ns, root=args.root, base_port=args.port,
        nb_rawx=args.nb_rawx or defaults[0],
        chunk_size=parse_size(args.chunk_size or defaults[1]),
        storage_policy=args.policy or defaults[2],
        fsync=not args.no_fsync, replicas=args.replicas,
        hosts=[h.strip() for h in args.hosts.split(",") if h.strip()],
        testbed=args.testbed, healing=not args.testbed,
        user_conf=not args.testbed)


def cmd_up(args) -> int:
    if os.path.exists(os.path.join(args.root, STATE_FILE)):
        sandbox = Sandbox.load(args.root)
    else:
        settings = settings_from_args(args)
        sandbox = Sandbox(settings)
        sandbox.bootstrap()
        print(f"Bootstrapped namespace {args.ns} in {args.root}")
    hosts = None
    if args.this_host:
        if args.this_host not in sandbox.settings.hosts:
            raise SandboxError(f"--this-host {args.this_host} is not one of "
                               f"{', '.join(sandbox.settings.hosts)}")
        hosts = [args.this_host]
    sandbox.start(hosts=hosts)
    sandbox.wait_ready(args.timeout)
    _print_summary(sandbox)
    return 0


def cmd_demo(args) -> int:
    import hashlib

    from oio import ObjectStorageApi

    if not os.path.isfile(args.path):
        raise SandboxError(f"{args.path}: no such file to store")
    sandbox = Sandbox.load(args.root)
    ns = sandbox.settings.namespace
    api = ObjectStorageApi(ns, endpoint=f"http://{sandbox.settings.proxy}")
    chunks, size, md5 = api.object_create("myaccount", "mycontainer", args.path)
    print(f"object_create('myaccount', 'mycontainer', {args.path!r}) ->")
    print(f"  size={size} md5={md5}")
    for chunk in chunks:
        print(f"  chunk {chunk['pos']} {chunk['url']} hash={chunk['hash']}")
    name = os.path.basename(args.path)
    meta, stream = api.object_fetch("myaccount", "mycontainer", name)
    data = b"".join(stream)
    with open(args.path, "rb") as src:
        expected = src.read()
    same = data == expected
    print(f"object_fetch('myaccount', 'mycontainer', {name!r}) -> {len(data)} "
          f"bytes, md5={hashlib.md5(data).hexdigest()}, "
          f"{'identical to' if same else 'DIFFERENT FROM'} {args.path}")
    return 0 if same else 1


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "up":
            return cmd_up(args)
        if args.command == "demo":
            return cmd_demo(args)
        sandbox = Sandbox.load(args.root)
        if args.command == "down":
            sandbox.down()
        elif args.command == "reset":
            sandbox.reset()
        elif args.command == "stop":
            sandbox.stop_service(args.service)
        elif args.command == "start":
            sandbox.start_service(args.service)
        elif args.command == "status":
            for row in sandbox.status():
                score = "-" if row["score"] is None else row["score"]
                print(f"{row['name']:<28} {row['addr']:<18} {row['state']:<10} "
                      f"score={score}")
        return 0
    except (SandboxError, ValueError) as exc:
        print(f"oio-sandbox: {exc}", file=sys.stderr)
        return 1
    except OioException as exc:
        print(f"oio-sandbox: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
