"""`openio lifecycle get|set|apply` and the autocontainer options (`--auto`)
of `openio object` and `openio-admin object`, through the real binaries."""

from __future__ import annotations

import hashlib
import uuid

from oio.common.autocontainer import HashedContainerBuilder
from tests.functional.cli import run_cli
from tests.functional.test_lifecycle import wait_listed

CONF = ("<LifecycleConfiguration><Rule><ID>versions</ID><Filter><Prefix>"
        "documents/</Prefix></Filter><Status>Enabled</Status>"
        "<NoncurrentVersionExpiration><NoncurrentCount>1</NoncurrentCount>"
        "</NoncurrentVersionExpiration></Rule></LifecycleConfiguration>")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_set_get_apply(namespace, tmp_path):
    acct, container = _name("acct"), _name("lc")
    api = namespace.api()
    api.container_create(acct, container,
                         system={"sys.m2.policy.version": "-1"})
    conf_file = tmp_path / "lc.xml"
    conf_file.write_text(CONF)
    done = run_cli(namespace, "lifecycle", "set", container, str(conf_file),
                   "--from-file", account=acct)
    assert done.code == 0, done.err

    shown = run_cli(namespace, "lifecycle", "get", container, account=acct)
    assert shown.code == 0, shown.err
    assert shown.out.startswith(
        '<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/'
        '2006-03-01/">\n')
    assert "".join(line.strip() for line in shown.out.splitlines()) == \
        CONF.replace("<LifecycleConfiguration>", '<LifecycleConfiguration '
                     'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">')

    for _ in range(3):
        for name in ("documents/a", "images/b"):
            api.object_create(acct, container, obj_name=name, data=b"x")
    applied = run_cli(namespace, "lifecycle", "apply", container, "-f",
                      "json", account=acct)
    assert applied.code == 0, applied.err
    rows = applied.json()
    assert list(rows[0]) == ["Name", "Version", "Rule", "Action", "Result"]
    assert [(r["Name"], r["Result"]) for r in rows] == [
        ("documents/a", "Kept"), ("documents/a", "Kept"),
        ("documents/a", "Deleted"),
        ("images/b", "Kept"), ("images/b", "Kept"), ("images/b", "Kept")]
    assert rows[2]["Action"] == "NoncurrentVersionExpiration"
    assert rows[3]["Action"] == "n/a" and rows[0]["Rule"] == "versions"
    left = api.object_list(acct, container, versions=True)["objects"]
    assert sorted(o["name"] for o in left) == [
        "documents/a", "documents/a", "images/b", "images/b", "images/b"]


def test_errors(namespace, tmp_path):
    acct, container = _name("acct"), _name("lc")
    namespace.api().container_create(acct, container)
    missing = run_cli(namespace, "lifecycle", "get", container, account=acct)
    assert missing.code == 1
    assert "No lifecycle configuration for container" in missing.err
    unapplied = run_cli(namespace, "lifecycle", "apply", container,
                        account=acct)
    assert unapplied.code == 1 and "No lifecycle configuration" in \
        unapplied.err
    for bad, message in (
            ("<LifecycleConfiguration>", "Invalid XML"),
            ("<LifecycleConfiguration><Rule><Filter/></Rule>"
             "</LifecycleConfiguration>", "Missing 'Status'")):
        refused = run_cli(namespace, "lifecycle", "set", container, bad,
                          account=acct)
        assert refused.code == 1 and message in refused.err, refused.err
    nofile = run_cli(namespace, "lifecycle", "set", container,
                     str(tmp_path / "absent.xml"), "--from-file",
                     account=acct)
    assert nofile.code == 1 and "Cannot read" in nofile.err
    namespace.api().container_set_properties(acct, container, properties={
        "X-Container-Sysmeta-Swift3-Lifecycle": "<garbage/>"})
    unreadable = run_cli(namespace, "lifecycle", "apply", container,
                         account=acct)
    assert unreadable.code == 1
    assert "Invalid lifecycle configuration in container" in unreadable.err
    nocontainer = run_cli(namespace, "lifecycle", "get", _name("none"),
                          account=acct)
    assert nocontainer.code == 1 and "not found" in nocontainer.err
    for result in (missing, unapplied, refused, nofile, unreadable,
                   nocontainer):
        assert "Traceback" not in result.err


def test_auto_containers_from_the_namespace_flat_bitlength(namespace,
                                                           tmp_path):
    acct = _name("acct")
    builder = HashedContainerBuilder(bits=17)   # the namespace default
    names = [f"photo-{i}.jpg" for i in range(3)]
    for name in names:
        (tmp_path / name).write_bytes(name.encode())
    # As in 7.2, <container> is there and ignored with --auto.
    created = run_cli(namespace, "object", "create", "--auto", "ignored",
                      *(str(tmp_path / n) for n in names), account=acct)
    assert created.code == 0, created.err
    api = namespace.api()
    for name in names:
        container = builder(name)
        digest = hashlib.sha256(name.encode()).hexdigest().upper()
        assert len(container) == 5 and container[:4] == digest[:4]
        assert api.object_exists(acct, container, name)

    wait_listed(api, acct, len({builder(n) for n in names}))
    listed = run_cli(namespace, "object", "list", "--auto", "-f", "value",
                     "-c", "Name", account=acct)
    assert listed.code == 0, listed.err
    assert sorted(listed.out.split()) == sorted(names)

    located = run_cli(namespace, "object", "locate", "--auto", names[0],
                      "-f", "json", account=acct)
    assert located.code == 0, located.err

    admin = run_cli(namespace, "object", "locate", "--auto", names[1],
                    "-f", "json", binary="openio-admin", account=acct)
    assert admin.code == 0, admin.err
    assert any(builder(names[1]) in row["Item"] for row in admin.json())
