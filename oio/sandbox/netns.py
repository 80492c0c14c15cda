"""Several "hosts" on one machine, as Linux network namespaces.

Tests and the benchmark of a multi-host namespace make hosts here: each host is
a network namespace of our own with one address, joined to the others by a
bridge in the root namespace, which also carries an address so that the test
process reaches every host.

    with HostNetwork(3) as net:
        h1, h2, h3 = net.hosts
        server = h1.run([sys.executable, "-m", "http.server", "--bind", h1.ip])
        h1.wait_reachable(8000)
        h1.cut()        # unreachable from h2, h3 and the root namespace
        h1.restore()
        h1.kill_all()   # every process of the host, children and daemons too

The addresses exist only inside this network: a private /24 unused on the
machine, no default route in the hosts, no NAT, no forwarding to real
interfaces (the bridge switches frames between the hosts and the root
namespace, nothing else). Each host has all its ports: services bind the
host's address (`host.ip`), never 0.0.0.0 nor 127.0.0.1 if others must reach
them.

Everything is removed by `teardown()` (also on `__exit__` and at exit of the
process). What a killed process left behind is removed by `cleanup_stale()`,
which every new `HostNetwork` calls first: each network records its creator
(pid and start time) in /run/oio-netns/<tag>.json and in the bridge's alias.
Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2; otherwise creation
raises `NetnsUnavailable`, for tests to skip with its message.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import Any

LOG = logging.getLogger(__name__)

RUN_DIR = "/run/oio-netns"
NETNS_DIR = "/run/netns"  # where `ip netns add` mounts the namespaces
# Private /24s are taken from 10.200.0.0/24 upward, skipping any in use.
FIRST_SUBNET = ipaddress.IPv4Network("10.200.0.0/24")
LAST_SUBNET = ipaddress.IPv4Network("10.255.255.0/24")
HOST_OFFSET = 10  # host hN gets .(10+N): h1 is x.x.x.11; the bridge is .1
MAX_HOSTS = 240
IP_TIMEOUT = 10.0  # seconds, for one `ip` command
KILL_TIMEOUT = 10.0  # seconds, until no process is left in a namespace
LOCK_TIMEOUT = 30.0
IFNAMSIZ = 15  # longest interface name the kernel takes
# Messages of `ip` that mean "this machine does not let us", not "a bug".
_UNSUPPORTED = ("Operation not permitted", "Permission denied",
                "not supported", "Unknown device type", "Read-only file system")


class NetnsError(RuntimeError):
    """An operation on the host network failed."""


class NetnsUnavailable(NetnsError):
    """This machine or process cannot make network namespaces (skip, not fail)."""


def _ip(*args: str, timeout: float = IP_TIMEOUT, check: bool = True) -> str:
    """Run `ip ARGS`; its stdout, or NetnsError with its stderr."""
    cmd = ["ip", *args]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "LC_ALL": "C"})
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"{' '.join(cmd)}: no answer in {timeout}s") from exc
    except OSError as exc:
        raise NetnsUnavailable(f"cannot run ip: {exc}") from exc
    if check and res.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)}: {res.stderr.strip()}")
    return res.stdout


def _ip_json(*args: str) -> list[dict[str, Any]]:
    out = _ip("-j", *args).strip()
    return json.loads(out) if out else []


def check_support() -> None:
    """Raise NetnsUnavailable if this process obviously cannot make hosts."""
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("`ip` (iproute2) is not installed")
    if not os.path.exists("/proc/self/ns/net"):
        raise NetnsUnavailable("this kernel has no network namespaces")


# -- who made what: records and liveness ------------------------------------

def _process_start(pid: int) -> str | None:
    """Start time of process `pid` (clock ticks since boot), None if gone.

    Stored with the pid so that a recycled pid does not look like the creator.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19]  # field 22 of proc(5), counted after "pid (comm)"


def _alive(pid: int, start: str | None) -> bool:
    return start is not None and _process_start(pid) == start


def _record_path(tag: str) -> str:
    return os.path.join(RUN_DIR, f"{tag}.json")


def _read_records() -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(RUN_DIR):
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(RUN_DIR, name)) as f:
                    records[name[:-5]] = json.load(f)
            except (OSError, ValueError):
                records[name[:-5]] = {}  # unreadable: its creator is unknown
    return records


def _write_record(tag: str, record: dict[str, Any]) -> None:
    os.makedirs(RUN_DIR, exist_ok=True)
    tmp = _record_path(tag) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, _record_path(tag))  # readers never see half a record


@contextlib.contextmanager
def _lock(timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Serialise choosing names and subnets, and stale cleanup, between processes."""
    try:
        os.makedirs(RUN_DIR, exist_ok=True)
        fd = os.open(os.path.join(RUN_DIR, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except PermissionError as exc:
        raise NetnsUnavailable(f"cannot write {RUN_DIR}: {exc}") from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NetnsError(f"{RUN_DIR}/lock held for {timeout}s") from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # also releases the lock


# -- what exists: names, subnets, processes ---------------------------------

def _name_re(prefix: str, tag: str = "[0-9a-f]{4}") -> re.Pattern[str]:
    # Bridge "<prefix><tag>br"; namespace and root-side veth "<prefix><tag>-hN".
    return re.compile(rf"^{re.escape(prefix)}({tag})(br|-h[0-9]+)$")


def _our_objects(pattern: re.Pattern[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Namespaces and root-namespace links whose names match `pattern`."""
    netns = [n["name"] for n in _ip_json("netns", "list")
             if pattern.match(n.get("name", ""))]
    links = [link for link in _ip_json("link", "show")
             if pattern.match(link.get("ifname", ""))]
    return netns, links


def _used_networks() -> list[ipaddress.IPv4Network]:
    """IPv4 networks of this machine's addresses and routes (default excluded)."""
    used = []
    for link in _ip_json("-4", "addr", "show"):
        for addr in link.get("addr_info", []):
            used.append(ipaddress.IPv4Network(
                f"{addr['local']}/{addr['prefixlen']}", strict=False))
    for route in _ip_json("-4", "route", "show", "table", "all"):
        dst = route.get("dst", "default")
        if dst != "default":
            used.append(ipaddress.IPv4Network(dst, strict=False))
    return [n for n in used if n.prefixlen > 0]


def _free_subnet(records: dict[str, dict[str, Any]]) -> ipaddress.IPv4Network:
    used = _used_networks()
    used += [ipaddress.IPv4Network(r["subnet"]) for r in records.values()
             if r.get("subnet")]
    first = int(FIRST_SUBNET.network_address) >> 8
    last = int(LAST_SUBNET.network_address) >> 8
    for n in range(first, last + 1):
        net = ipaddress.IPv4Network((n << 8, 24))
        if not any(net.overlaps(u) for u in used):
            return net
    raise NetnsError(f"no free /24 between {FIRST_SUBNET} and {LAST_SUBNET}")


def netns_pids(netns: str) -> list[int]:
    """Pids of the processes in namespace `netns` (what `ip netns pids` says).

    Compares /proc/PID/ns/net with the namespace's mount as iproute2 does,
    without a process per call (kill_all polls this).
    """
    try:
        ns = os.stat(os.path.join(NETNS_DIR, netns))
    except OSError:
        return []
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue  # gone, or a zombie (no namespace any more)
        if st.st_ino == ns.st_ino and st.st_dev == ns.st_dev:
            pids.append(int(entry.name))
    return pids


def _kill_netns(netns: str, sig: int = signal.SIGKILL,
                timeout: float = KILL_TIMEOUT, reap: Any = None) -> None:
    """Signal every process in `netns` until none is left, or NetnsError."""
    deadline = time.monotonic() + timeout
    while True:
        if reap is not None:
            reap()
        pids = netns_pids(netns)
        if not pids:
            return
        if time.monotonic() > deadline:
            raise NetnsError(f"{netns}: processes {pids} still there after "
                             f"{timeout}s of signal {sig}")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.01)


def _remove(netns: Sequence[str], links: Sequence[str], record: str | None) -> None:
    """Kill, then delete namespaces and links; log what fails, never raise."""
    for ns in netns:
        try:
            _kill_netns(ns)
        except Exception as exc:  # keep going: the rest can still go
            LOG.warning("netns %s: %s", ns, exc)
    # Veths first (deleting one end deletes both), then the namespaces, then
    # the bridge: nothing is left attached to what is being deleted.
    for link in sorted(links, key=lambda name: name.endswith("br")):
        _quiet_ip("link", "del", link)
    for ns in netns:
        _quiet_ip("netns", "del", ns)
    if record:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(record)


def _quiet_ip(*args: str) -> None:
    try:
        _ip(*args)
    except Exception as exc:
        if "Cannot find device" not in str(exc) and "No such file" not in str(exc):
            LOG.warning("%s", exc)


def cleanup_stale(prefix: str = "oio") -> list[str]:
    """Remove what earlier runs with `prefix` left, if their creator is dead.

    A network whose record names a live process is left alone; namespaces and
    links without a record are removed unless the bridge's alias names a live
    process. Returns the tags removed.
    """
    check_support()
    removed = []
    pattern = _name_re(prefix)
    with _lock():
        records = _read_records()
        netns, links = _our_objects(pattern)
        names = netns + [x["ifname"] for x in links]
        tags = {t for t, r in records.items() if r.get("prefix", prefix) == prefix}
        tags |= {m.group(1) for n in names if (m := pattern.match(n))}
        for tag in sorted(tags):
            rec = records.get(tag)
            if rec is None:
                rec = _alias_record(links, prefix + tag + "br")
            if _alive(rec.get("pid", 0), rec.get("start")):
                continue
            mine = _name_re(prefix, tag)
            _remove([n for n in netns if mine.match(n)],
                    [x["ifname"] for x in links if mine.match(x["ifname"])],
                    _record_path(tag))
            removed.append(tag)
            LOG.info("removed stale host network %s%s (creator %s)",
                     prefix, tag, rec.get("pid"))
    return removed


def _alias(pid: int, start: str | None) -> str:
    return f"oio-netns pid={pid} start={start}"


def _alias_record(links: list[dict[str, Any]], bridge: str) -> dict[str, Any]:
    for link in links:
        if link["ifname"] == bridge:
            m = re.search(r"pid=(\d+) start=(\d+)", link.get("ifalias", ""))
            if m:
                return {"pid": int(m.group(1)), "start": m.group(2)}
    return {}


# -- the hosts ---------------------------------------------------------------

class Host:
    """One host: a network namespace with one address, `ip`, on the bridge."""

    def __init__(self, name: str, netns: str, ip: str, veth: str):
        self.name = name      # "h1"
        self.netns = netns    # "oio1a2b-h1", for `ip netns exec`
        self.ip = ip          # services of this host bind this address
        self.veth = veth      # bridge side of its link, in the root namespace
        self.is_cut = False
        self._procs: list[subprocess.Popen[Any]] = []

    def __repr__(self) -> str:
        return f"Host({self.name!r}, netns={self.netns!r}, ip={self.ip!r})"

    def argv(self, argv: Sequence[str]) -> list[str]:
        """The command line that runs `argv` inside this host."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(self, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
        """Start `argv` (no shell) inside this host; kill_all() stops it."""
        proc = subprocess.Popen(self.argv(argv), **popen_kwargs)
        self._procs.append(proc)
        return proc

    def check_output(self, argv: Sequence[str], timeout: float = 30.0,
                     **run_kwargs: Any) -> str:
        """Run `argv` inside this host, wait (`timeout` seconds), its stdout.

        Raises subprocess.CalledProcessError or TimeoutExpired.
        """
        return subprocess.run(self.argv(argv), capture_output=True, text=True,
                              check=True, timeout=timeout, **run_kwargs).stdout

    def pids(self) -> list[int]:
        """Pids of every process inside this host."""
        return netns_pids(self.netns)

    def kill_all(self, sig: int = signal.SIGKILL,
                 timeout: float = KILL_TIMEOUT) -> None:
        """Signal every process of this host until none is left (NetnsError
        after `timeout` seconds: a process that ignores `sig`)."""
        _kill_netns(self.netns, sig, timeout, reap=self._reap)
        self._reap()

    def _reap(self) -> None:
        # Our own children would stay zombies (and Popen.returncode None).
        self._procs = [p for p in self._procs if p.poll() is None]

    def cut(self) -> None:
        """Unplug the host: unreachable from other hosts and the root
        namespace, its processes keep running (and time out talking out)."""
        _ip("link", "set", self.veth, "down")
        self.is_cut = True

    def restore(self) -> None:
        """Plug the host back after cut()."""
        _ip("link", "set", self.veth, "up")
        self.is_cut = False

    def reachable(self, port: int, timeout: float = 1.0) -> bool:
        """Whether a TCP connection to this host's `port` opens from here."""
        try:
            with socket.create_connection((self.ip, port), timeout=timeout):
                return True
        except OSError:
            return False

    def wait_reachable(self, port: int, timeout: float = 10.0,
                       reachable: bool = True) -> bool:
        """Poll until reachable(port) is `reachable`; False after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if self.reachable(port, timeout=max(0.05, min(0.5, left))) == reachable:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


class HostNetwork:
    """`count` hosts as network namespaces on one bridge; a context manager.

    Host hN is namespace "<prefix><tag>-hN" at <subnet>.(10+N), the bridge
    "<prefix><tag>br" at <subnet>.1 in the root namespace. Creation raises
    NetnsUnavailable when the machine does not allow it, after removing
    whatever it made.
    """

    def __init__(self, count: int, prefix: str = "oio", clean_stale: bool = True):
        if not 1 <= count <= MAX_HOSTS:
            raise ValueError(f"count must be within 1..{MAX_HOSTS}")
        if not re.fullmatch(r"[a-z][a-z0-9]*", prefix) or \
                len(prefix) + 4 + len(f"-h{count}") > IFNAMSIZ:
            raise ValueError(f"prefix {prefix!r}: lowercase letters and digits, "
                             f"at most {IFNAMSIZ - 6 - len(str(count))} chars")
        check_support()
        self.prefix = prefix
        self.tag = ""  # 4 hex digits, unique among live networks
        self.bridge = ""
        self.network = FIRST_SUBNET  # the /24 actually chosen, once made
        self.hosts: list[Host] = []
        self._closed = False
        self._record: str | None = None
        self._pid = os.getpid()
        if clean_stale:
            cleanup_stale(prefix)
        try:
            self._create(count)
        except BaseException as exc:
            self.teardown()
            if isinstance(exc, NetnsError) and not isinstance(exc, NetnsUnavailable) \
                    and any(m in str(exc) for m in _UNSUPPORTED):
                raise NetnsUnavailable(f"cannot make hosts here: {exc}") from exc
            raise

    @property
    def gateway_ip(self) -> str:
        """The bridge's address: the root namespace seen from the hosts."""
        return str(self.network.network_address + 1)

    def __enter__(self) -> HostNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def __repr__(self) -> str:
        return f"HostNetwork({self.bridge!r}, {self.network}, {len(self.hosts)} hosts)"

    def _create(self, count: int) -> None:
        pid = self._pid
        start = _process_start(pid)
        with _lock():
            records = _read_records()
            pattern = _name_re(self.prefix)
            netns, links = _our_objects(pattern)
            taken = set(records) | {
                m.group(1) for n in netns + [x["ifname"] for x in links]
                if (m := pattern.match(n))}
            self.tag = _free_tag(taken)
            self.bridge = f"{self.prefix}{self.tag}br"
            self.network = _free_subnet(records)
            # The record goes first: whatever exists after it is ours to clean.
            self._record = _record_path(self.tag)
            _write_record(self.tag, {"pid": pid, "start": start, "prefix": self.prefix,
                                     "tag": self.tag, "subnet": str(self.network),
                                     "count": count})
            atexit.register(self._at_exit)
            self._make_bridge(_alias(pid, start))
        for n in range(1, count + 1):
            self._make_host(n)

    def _make_bridge(self, alias: str) -> None:
        # A fixed MAC: a bridge otherwise takes its ports' lowest one, which
        # changes as hosts come and go. No IPv6 link-local (addrgenmode none):
        # the only addresses are ours. No STP delay: ports forward at once.
        _ip("link", "add", "name", self.bridge, "address", _random_mac(),
            "type", "bridge", "forward_delay", "0", "stp_state", "0")
        _ip("link", "set", self.bridge, "alias", alias, "addrgenmode", "none")
        _ip("addr", "add", f"{self.gateway_ip}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def _make_host(self, n: int) -> None:
        name = f"{self.prefix}{self.tag}-h{n}"
        host = Host(f"h{n}", name, str(self.network.network_address + HOST_OFFSET + n),
                    veth=name)
        self.hosts.append(host)
        _ip("netns", "add", name)
        _ip("link", "add", name, "type", "veth", "peer", "name", "eth0",
            "netns", name)
        _ip("link", "set", name, "master", self.bridge, "addrgenmode", "none", "up")
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "set", "eth0", "addrgenmode", "none")
        _ip("-n", name, "addr", "add", f"{host.ip}/24", "dev", "eth0")
        _ip("-n", name, "link", "set", "eth0", "up")  # and no default route

    def _at_exit(self) -> None:
        # A forked child inherits the hook: only the creator tears down.
        if os.getpid() == self._pid:
            self.teardown()

    def teardown(self) -> None:
        """Kill every process of the hosts, delete namespaces, veths, bridge.

        Idempotent, never raises (logs what it could not remove; the next
        cleanup_stale() retries once this process is gone).
        """
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._at_exit)
        if self._record is None:
            return  # nothing was made
        try:
            mine = _name_re(self.prefix, self.tag)
            netns, links = _our_objects(mine)
            for host in self.hosts:
                host._reap()
            _remove(netns, [x["ifname"] for x in links], self._record)
            for host in self.hosts:
                host._reap()
        except Exception as exc:
            LOG.warning("teardown of %s%s: %s", self.prefix, self.tag, exc)


def _free_tag(taken: set[str]) -> str:
    for _ in range(1000):
        tag = f"{random.getrandbits(16):04x}"
        if tag not in taken:
            return tag
    raise NetnsError(f"no free tag in {RUN_DIR}")


def _random_mac() -> str:
    # Locally administered, unicast.
    octets = [0x02] + [random.getrandbits(8) for _ in range(5)]
    return ":".join(f"{o:02x}" for o in octets)


__all__ = ["Host", "HostNetwork", "NetnsError", "NetnsUnavailable",
           "check_support", "cleanup_stale", "netns_pids"]
