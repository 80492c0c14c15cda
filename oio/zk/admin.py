"""What `openio zk ...` does to the election tree of a namespace (spec
replication.md §3 and §7.3), as plain functions over a started
KazooClient: create the tree, delete it, list, reset or smudge the
election nodes of its leaf directories.

The meta2 part of the tree alone has 65,536 leaf directories: requests
go out many at once (oio.zk.client.read_many and write_many), never one
round trip per directory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import (
    KazooException,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)

from oio.zk.client import (
    CHILDREN,
    DATA,
    SESSION_ERRORS,
    WINDOW,
    WRITE_BATCH,
    read_many,
    write_many,
)
from oio.zk.layout import (
    ELECTION_TYPES,
    bootstrap_dirs,
    meta0_dir,
    ns_root,
    split_member,
)

LOG = logging.getLogger(__name__)
# Creations per transaction of `bootstrap --slow`, for a struggling server.
SLOW_BATCH = 8
# reset's --min-services default, as OpenIO's.
MIN_SERVICES = 4
# Texts of the usual per-node errors (kazoo's exceptions have none).
_ERROR_TEXTS = {NoNodeError: "no node", NodeExistsError: "node exists",
                NotEmptyError: "not empty"}


@dataclass
class Report:
    """The rows of a listing command and what went wrong on the way
    (one line per kind of problem)."""

    rows: list[tuple] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class BootstrapResult:
    created: int = 0
    existing: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: bool = False


def select_types(service_type: str) -> tuple[str, ...]:
    """The election types named in `service_type`: each of meta0, meta1,
    meta2 that is a substring of it (so "meta1,meta2" gives two), as
    OpenIO's tool selects them. Raises ValueError when none is."""
    kinds = tuple(k for k in ELECTION_TYPES if k in service_type)
    if not kinds:
        raise ValueError(
            f"Unknown service type {service_type!r}: expected meta0, meta1 "
            "or meta2, or several of them (e.g. meta1,meta2)")
    return kinds


def leaf_dirs(ns: str, kind: str) -> Iterator[str]:
    """The directories holding the election nodes of type `kind`."""
    root = f"{ns_root(ns)}/el/{kind}"
    if kind == "meta1":
        for i in range(16 ** 3):
            yield f"{root}/{i:03X}"
    elif kind == "meta2":
        for i in range(256):
            for j in range(256):
                yield f"{root}/{i:02X}/{j:02X}"
    else:
        yield root


def error_text(exc: BaseException) -> str:
    """A readable text for a per-node error."""
    return _ERROR_TEXTS.get(type(exc)) or str(exc) or type(exc).__name__


def _summary(problems: dict[str, list[str]]) -> list[str]:
    """One line per kind of problem, with a count and an example, rather
    than thousands of lines for a tree that is not there."""
    lines = []
    for what, paths in problems.items():
        if len(paths) == 1:
            lines.append(f"{paths[0]}: {what}")
        else:
            lines.append(f"{len(paths)} directories: {what} "
                         f"(first: {paths[0]})")
    return lines


def _listing(zk: KazooClient, ns: str, kinds: Iterable[str],
             problems: list[str]) -> list[tuple[str, list[str]]]:
    """(leaf directory, its sorted children) of every non-empty leaf
    directory of the types, in tree order."""
    groups = []
    for kind in kinds:
        root = f"{ns_root(ns)}/el/{kind}"
        if zk.exists(root) is None:
            problems.append(f"{root} does not exist: create the tree with "
                            "'openio zk bootstrap'")
        else:
            groups += leaf_dirs(ns, kind)
    errors: dict[str, list[str]] = {}
    out = []
    answers = read_many(zk, [(CHILDREN, g) for g in groups])
    for group, children in zip(groups, answers, strict=True):
        if isinstance(children, NoNodeError):
            errors.setdefault("missing, run 'openio zk bootstrap'",
                              []).append(group)
        elif isinstance(children, Exception):
            errors.setdefault(f"cannot list: {error_text(children)}",
                              []).append(group)
        elif children:
            out.append((group, sorted(children)))
    problems.extend(_summary(errors))
    return out


def _shown(data: bytes | None) -> str:
    """The `value` column: the repr of the node's data as text."""
    return repr(None if data is None else data.decode("utf-8", "replace"))


# -- the commands ----------------------------------------------------------

def stat(zk: KazooClient, ns: str, kinds: Iterable[str]) -> Report:
    """Rows (group, member, size, value) for every node of every leaf
    directory of the election types `kinds`; size in bytes."""
    report = Report()
    members = [(g, m) for g, names in _listing(zk, ns, kinds, report.problems)
               for m in names]
    answers = read_many(zk, [(DATA, f"{g}/{m}") for g, m in members])
    for (group, member), answer in zip(members, answers, strict=True):
        if isinstance(answer, NoNodeError):
            continue  # an ephemeral node gone since the listing
        if isinstance(answer, Exception):
            report.problems.append(f"{group}/{member}: {error_text(answer)}")
            continue
        data, znode = answer
        report.rows.append((group, member, znode.data_length, _shown(data)))
    return report


def _duplicates(members: list[str], data: dict[str, Any], group: str
                ) -> list[str]:
    """Members of one election key holding the same data as a newer member
    of that key: the older registrations of a service (`reset --smart`)."""
    newest: dict[tuple[str, bytes], str] = {}
    older = []
    # Sorted names: by key, then by sequence, oldest first.
    for member in members:
        parsed = split_member(member)
        answer = data.get(f"{group}/{member}")
        if parsed is None or not isinstance(answer, tuple):
            continue
        ident = (parsed[0], answer[0])
        if ident in newest:
            older.append(newest[ident])
        newest[ident] = member
    return older


def reset(zk: KazooClient, ns: str, kinds: Iterable[str], *,
          dry_run: bool = False, min_services: int = MIN_SERVICES,
          alone: bool = False, smart: bool = False) -> Report:
    """Delete the election nodes of every leaf directory holding at least
    `min_services` of them (with `alone`, also a node alone in its
    directory; with `smart`, only a service's older nodes in an election
    it joined several times). Rows (group, node, status): `Deleted`,
    `Skipped` (dry run), `Too few nodes`, or the error. Owners of deleted
    ephemeral nodes see them leave and run their election again."""
    report = Report()
    listing = _listing(zk, ns, kinds, report.problems)
    data: dict[str, Any] = {}
    if smart:
        paths = [f"{g}/{m}" for g, names in listing
                 if len(names) >= min_services
                 and not (alone and len(names) == 1) for m in names]
        data = dict(zip(paths, read_many(zk, [(DATA, p) for p in paths]),
                        strict=True))
    plan: list[tuple[str, str, str | None]] = []  # None: to delete
    for group, names in listing:
        if alone and len(names) == 1:
            plan.append((group, names[0], None))
        elif len(names) < min_services:
            plan += [(group, m, "Too few nodes") for m in names]
        elif smart:
            plan += [(group, m, None) for m in _duplicates(names, data, group)]
        else:
            plan += [(group, m, None) for m in names]
    doomed = [] if dry_run else [(g, m) for g, m, s in plan if s is None]
    done = dict(zip(doomed, write_many(
        zk, [("delete", f"{g}/{m}") for g, m in doomed]), strict=True))
    for group, member, status in plan:
        if status is None:
            answer = done.get((group, member))
            status = ("Skipped" if dry_run
                      else error_text(answer) if isinstance(answer, Exception)
                      else "Deleted")
        report.rows.append((group, member, status))
    return report


def smudge(zk: KazooClient, ns: str, kinds: Iterable[str], value: str = ""
           ) -> Report:
    """For every election key found in the leaf directories, a persistent
    node `K-<last sequence + 1>` holding `value`: a fake member that never
    leaves, to test how services and tools cope. Rows (group, member,
    status): `OK` or the error."""
    report = Report()
    payload = value.encode()
    fakes: list[tuple[str, str]] = []
    for group, names in _listing(zk, ns, kinds, report.problems):
        last: dict[str, int] = {}
        for name in names:
            parsed = split_member(name)
            if parsed is not None:
                last[parsed[0]] = max(parsed[1], last.get(parsed[0], -1))
        fakes += [(group, f"{key}-{seq + 1:010d}")
                  for key, seq in sorted(last.items())]
    answers = write_many(zk, [("create", f"{g}/{m}", payload)
                              for g, m in fakes])
    for (group, member), answer in zip(fakes, answers, strict=True):
        status = error_text(answer) if isinstance(answer, Exception) else "OK"
        report.rows.append((group, member, status))
    return report


def bootstrap(zk: KazooClient, ns: str, *, slow: bool = False,
              lazy: bool = False, log: logging.Logger = LOG
              ) -> BootstrapResult:
    """Create the election tree of `ns` (69,897 directories, §3.1) in
    transactions of WRITE_BATCH creations, several in flight (with
    `slow`: SLOW_BATCH, one at a time, for a server that struggles).
    Directories already there are fine; with `lazy`, nothing is done when
    the roots of the tree all exist."""
    result = BootstrapResult()
    roots = [f"{ns_root(ns)}/el/{k}" for k in ELECTION_TYPES] + [meta0_dir(ns)]
    if lazy and all(zk.exists(p) is not None for p in roots):
        log.info("The election tree of %s is there already: nothing done",
                 ns)
        result.skipped = True
        return result
    dirs = list(bootstrap_dirs(ns))
    # Create only what is missing: a transaction fails as a whole on one
    # directory already there, and a run again would then go node by node.
    missing = []
    for path, answer in zip(dirs, read_many(zk, [(DATA, d) for d in dirs]),
                            strict=True):
        if isinstance(answer, NoNodeError):
            missing.append(path)
        elif isinstance(answer, Exception):
            result.failed.append(f"{path}: {error_text(answer)}")
        else:
            result.existing += 1
    log.debug("%d of the %d directories of %s to create", len(missing),
              len(dirs), ns)
    answers = write_many(
        zk, [("create", p, b"") for p in missing],
        batch=SLOW_BATCH if slow else WRITE_BATCH, window=1 if slow else WINDOW)
    for path, answer in zip(missing, answers, strict=True):
        if isinstance(answer, NodeExistsError):
            result.existing += 1  # created by someone else meanwhile
        elif isinstance(answer, Exception):
            result.failed.append(f"{path}: {error_text(answer)}")
        else:
            result.created += 1
    return result


def _tree_levels(zk: KazooClient, root: str) -> list[list[str]]:
    """Every node below `root`, level by level."""
    levels: list[list[str]] = []
    level = [root]
    while level:
        answers = read_many(zk, [(CHILDREN, p) for p in level])
        level = [f"{path}/{child}"
                 for path, children in zip(level, answers, strict=True)
                 if isinstance(children, list) for child in children]
        if level:
            levels.append(level)
    return levels


def armageddon(zk: KazooClient, ns: str, log: logging.Logger = LOG
               ) -> tuple[int, list[str]]:
    """Delete every node below /hc/ns/<ns> (that node stays), the deepest
    first. Returns how many were deleted, and the failures."""
    root = ns_root(ns)
    if zk.exists(root) is None:
        log.info("%s does not exist: nothing to delete", root)
        return 0, []
    deleted, failed = 0, []
    for level in reversed(_tree_levels(zk, root)):
        answers = write_many(zk, [("delete", p) for p in level])
        for path, answer in zip(level, answers, strict=True):
            if isinstance(answer, NotEmptyError):
                # Something created below it meanwhile (a service joining
                # an election): take the whole subtree.
                try:
                    zk.delete(path, recursive=True)
                    deleted += 1
                except NoNodeError:
                    pass
                except SESSION_ERRORS:
                    raise
                except KazooException as exc:
                    failed.append(f"{path}: {error_text(exc)}")
            elif isinstance(answer, NoNodeError):
                continue  # gone already: an ephemeral node whose owner left
            elif isinstance(answer, Exception):
                failed.append(f"{path}: {error_text(answer)}")
            else:
                deleted += 1
    return deleted, failed
