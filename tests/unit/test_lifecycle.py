"""Lifecycle rules (oio/container/lifecycle.py): parsing, serialization and
application, over an in-memory fake of the few API methods it uses."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from oio.common.exceptions import NoSuchObject
from oio.container.lifecycle import (
    LIFECYCLE_PROPERTY_KEY,
    TAGGING_KEY,
    XMLNS_S3,
    ContainerLifecycle,
    DateActionFilter,
    DaysActionFilter,
    Expiration,
    LifecycleRule,
    LifecycleRuleFilter,
    NoncurrentCountActionFilter,
    NoncurrentVersionExpiration,
    NoncurrentVersionTransition,
    Transition,
    iso8601_to_int,
)

DAY = 86400
NOW = 2_000_000_000


class FakeApi:
    """Objects as {container: {name: [versions, newest first]}}."""

    def __init__(self, page: int = 2):
        self.containers: dict[str, dict[str, list[dict]]] = {}
        self.props: dict[str, dict] = {}
        self.page = page
        self.calls: list[tuple] = []
        self.broken: set[str] = set()   # names whose deletion fails

    def put(self, container, name, age_days, policy="SINGLE", tags=None):
        versions = self.containers.setdefault(container, {}).setdefault(
            name, [])
        version = len(versions) + 1
        props = {}
        if tags:
            props[TAGGING_KEY] = tagging(tags)
        versions.insert(0, {"name": name, "version": version,
                            "mtime": str(NOW - age_days * DAY),
                            "deleted": False, "policy": policy,
                            "properties": props})

    # The API methods ContainerLifecycle calls
    def container_get_properties(self, account, container):
        return {"properties": dict(self.props.get(container, {}))}

    def container_set_properties(self, account, container, properties):
        self.props.setdefault(container, {}).update(properties)

    def container_list(self, account, marker=None, prefix=None):
        names = sorted(n for n in self.containers
                       if n.startswith(prefix) and (not marker or n > marker))
        return [[n, 0, 0, 0, 0] for n in names[:1]]

    def object_list(self, account, container, marker=None, **_kwargs):
        # Marker "name/version": robust to deletions between pages.
        def key(row):
            return row["name"], -int(row["version"])

        rows = sorted((dict(v) for versions in
                       self.containers[container].values()
                       for v in versions), key=key)
        if marker:
            name, version = marker.rsplit("/", 1)
            rows = [r for r in rows if key(r) > (name, -int(version))]
        page, more = rows[:self.page], len(rows) > self.page
        out = {"objects": page, "truncated": more}
        if more:
            out["next_marker"] = f"{page[-1]['name']}/{page[-1]['version']}"
        return out

    def object_get_properties(self, account, container, name):
        versions = self.containers.get(container, {}).get(name)
        if not versions:
            raise NoSuchObject("no such object")
        return versions[0]

    def object_delete(self, account, container, name, version=None):
        self.calls.append(("delete", container, name, version))
        if name in self.broken:
            raise NoSuchObject("gone behind our back")
        versions = self.containers[container][name]
        kept = [v for v in versions if version is not None
                and str(v["version"]) != str(version)]
        if len(kept) == len(versions):
            raise NoSuchObject("no such version")
        self.containers[container][name] = kept
        return True

    def object_change_policy(self, account, container, name, policy,
                             version=None):
        self.calls.append(("policy", container, name, policy, version))
        for v in self.containers[container][name]:
            if v["version"] == version:
                v["policy"] = policy


def tagging(tags: dict) -> str:
    body = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"
                   for k, v in tags.items())
    return f'<Tagging xmlns="{XMLNS_S3}"><TagSet>{body}</TagSet></Tagging>'


def conf(*rules: str, ns: bool = False) -> str:
    xmlns = f' xmlns="{XMLNS_S3}"' if ns else ""
    return (f"<LifecycleConfiguration{xmlns}>" + "".join(rules)
            + "</LifecycleConfiguration>")


def rule(body: str, filter_: str = "", rule_id: str = "r1",
         status: str = "Enabled") -> str:
    return (f"<Rule><ID>{rule_id}</ID><Filter>{filter_}</Filter>"
            f"<Status>{status}</Status>{body}</Rule>")


def lifecycle_of(api: FakeApi, xml: str, container="c") -> ContainerLifecycle:
    lc = ContainerLifecycle(api, "acct", container)
    lc.load_xml(xml)
    return lc


# Parsing -------------------------------------------------------------------

def test_rule_parsing_orders_actions_and_reads_filters():
    lc = lifecycle_of(FakeApi(), conf(rule(
        "<Transition><Days>1</Days><StorageClass>A</StorageClass></Transition>"
        "<Expiration><Days>60</Days></Expiration>"
        "<Transition><Days>30</Days><StorageClass>B</StorageClass>"
        "</Transition>"
        "<NoncurrentVersionExpiration><NoncurrentCount>3</NoncurrentCount>"
        "</NoncurrentVersionExpiration>",
        filter_="<And><Prefix>docs/</Prefix><Tag><Key>k</Key><Value>v</Value>"
                "</Tag><Tag><Key>k2</Key><Value>v2</Value></Tag></And>")))
    (parsed,) = lc.rules
    assert parsed.id == "r1" and parsed.enabled
    assert parsed.filter.prefix == "docs/"
    assert parsed.filter.tags == {"k": "v", "k2": "v2"}
    assert [type(a) for a in parsed.actions] == [
        Expiration, Transition, Transition, NoncurrentVersionExpiration]
    assert [a.policy for a in parsed.actions[1:3]] == ["B", "A"]
    assert parsed.actions[3].filter.count == 3


@pytest.mark.parametrize("bad, message", [
    ("<Nope/>", "root tag"),
    ("<LifecycleConfiguration><Rule>", "Invalid XML"),
    (conf("<Rule><Status>Enabled</Status><Expiration><Days>1</Days>"
          "</Expiration></Rule>"), "Missing 'Filter'"),
    (conf("<Rule><Filter/><Expiration><Days>1</Days></Expiration></Rule>"),
     "Missing 'Status'"),
    (conf(rule("<Expiration><Days>1</Days></Expiration>",
               status="Maybe")), "Unknown 'Status'"),
    (conf(rule("")), "At least one action"),
    (conf(rule("<Expiration><Days>0</Days></Expiration>")), "positive"),
    (conf(rule("<Expiration><Days>1</Days><Date>2030-01-01T00:00:00</Date>"
               "</Expiration>")), "'Days' and 'Date' in same"),
    (conf(rule("<Expiration></Expiration>")), "Missing 'Days' or 'Date'"),
    (conf(rule("<Expiration><Date>tomorrow</Date></Expiration>")),
     "Invalid date"),
    (conf(rule("<Expiration><Days>10</Days></Expiration><Transition>"
               "<Days>20</Days><StorageClass>A</StorageClass></Transition>")),
     "after every Transition"),
    (conf(rule("<Expiration><Days>10</Days></Expiration><Transition>"
               "<Date>2030-01-01T00:00:00</Date><StorageClass>A</StorageClass>"
               "</Transition>")), "in the same Rule"),
    (conf(rule("<Transition><Days>2</Days></Transition>")),
     "Missing 'StorageClass'"),
    (conf(rule("<NoncurrentVersionExpiration><NoncurrentCount>-1"
               "</NoncurrentCount></NoncurrentVersionExpiration>")),
     "greater than or equal"),
    (conf(rule("<Expiration><Days>1</Days></Expiration>",
               filter_="<Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value>"
                       "</Tag>")), "use <And>"),
    (conf(rule("<Expiration><Days>1</Days></Expiration>",
               filter_="<And><Tag><Key>k</Key><Value>v</Value></Tag>"
                       "<Tag><Key>k</Key><Value>w</Value></Tag></And>")),
     "Duplicate Tag"),
    (conf(rule("<Expiration><Days>1</Days></Expiration>"),
          rule("<Expiration><Days>2</Days></Expiration>")), "unique"),
])
def test_invalid_configurations_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        lifecycle_of(FakeApi(), bad)


def test_dates_are_utc_days():
    assert iso8601_to_int("2018-10-30T02:34:56") == 1540866896
    assert iso8601_to_int("2018-10-30T02:34:56Z") == 1540866896
    (parsed,) = lifecycle_of(FakeApi(), conf(rule(
        "<Expiration><Date>2018-10-30T02:34:56</Date></Expiration>"))).rules
    assert parsed.actions[0].filter.date == 1540857600


def test_serialization_round_trip_with_s3_namespace():
    source = conf(rule(
        "<Expiration><Days>60</Days></Expiration>"
        "<Transition><StorageClass>THREECOPIES</StorageClass><Days>1</Days>"
        "</Transition>"
        "<NoncurrentVersionExpiration><NoncurrentDays>60</NoncurrentDays>"
        "</NoncurrentVersionExpiration>"
        "<NoncurrentVersionTransition><StorageClass>X</StorageClass>"
        "<NoncurrentDays>2</NoncurrentDays></NoncurrentVersionTransition>",
        filter_="<Prefix>p/</Prefix>"), ns=True)
    api = FakeApi()
    lc = lifecycle_of(api, source)
    assert str(lc) == source
    lc.save()
    assert api.props["c"][LIFECYCLE_PROPERTY_KEY] == source
    reloaded = ContainerLifecycle(api, "acct", "c")
    assert reloaded.load() and str(reloaded) == source
    # The namespaced document parses the same.
    assert str(lifecycle_of(api, source)) == source
    empty = LifecycleRule("x", LifecycleRuleFilter(None, {}), False,
                          [Expiration(DaysActionFilter(3))])
    assert str(empty) == ("<Rule><ID>x</ID><Filter></Filter><Status>Disabled"
                          "</Status><Expiration><Days>3</Days></Expiration>"
                          "</Rule>")


def test_load_without_configuration_and_save_without_rules():
    api = FakeApi()
    lc = ContainerLifecycle(api, "acct", "c")
    assert lc.load() is False and lc.rules == []
    with pytest.raises(ValueError, match="No lifecycle rule"):
        lc.save()


def test_filters_match_prefix_and_tags():
    filter_ = LifecycleRuleFilter("docs/", {"a": "1"})
    meta = {"name": "docs/x", "properties": {TAGGING_KEY: tagging({"a": "1"})}}
    assert filter_.match(meta)
    assert not filter_.match(dict(meta, name="img/x"))
    assert not filter_.match(dict(meta, properties={}))
    # As `openio object set --tagging` writes them: no namespace.
    plain = {TAGGING_KEY: "<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value>"
                          "</Tag></TagSet></Tagging>"}
    assert filter_.match(dict(meta, properties=plain))
    other = {TAGGING_KEY: tagging({"a": "2", "b": "1"})}
    assert not filter_.match(dict(meta, properties=other))
    with pytest.raises(ValueError, match="Tagging"):
        filter_.match(dict(meta, properties={TAGGING_KEY: "<Tags/>"}))


def test_action_filters():
    old = {"mtime": str(NOW - 10 * DAY)}
    assert DaysActionFilter(9).match(old, now=NOW)
    assert not DaysActionFilter(11).match(old, now=NOW)
    date = DateActionFilter(NOW - 5 * DAY)
    assert date.match(old, now=NOW) and not date.match(old, now=NOW - 6 * DAY)
    assert not date.match({"mtime": str(NOW - DAY)}, now=NOW)
    count = NoncurrentCountActionFilter(1)   # alone: counts what it sees
    assert [count.match({"name": n}) for n in "aaab"] == \
        [False, True, True, False]
    elt = ET.fromstring("<Days>4</Days>")
    assert DaysActionFilter.from_element(elt).days == 4


# Application ---------------------------------------------------------------

def test_expiration_by_days_with_prefix():
    api = FakeApi()
    api.put("c", "docs/old", 10)
    api.put("c", "docs/new", 1)
    api.put("c", "img/old", 10)
    lc = lifecycle_of(api, conf(rule(
        "<Expiration><Days>5</Days></Expiration>",
        filter_="<Prefix>docs/</Prefix>")))
    results = {(m["name"], action, res)
               for m, _, action, res in lc.execute(now=NOW)}
    assert results == {("docs/old", "Expiration", "Deleted"),
                       ("docs/new", "Expiration", "Kept"),
                       ("img/old", "n/a", "Kept")}
    assert api.calls == [("delete", "c", "docs/old", None)]
    assert lc.processed_versions is None


def test_disabled_rules_keep_everything():
    api = FakeApi()
    api.put("c", "x", 10)
    lc = lifecycle_of(api, conf(rule("<Expiration><Days>1</Days></Expiration>",
                                     status="Disabled")))
    assert [r[3] for r in lc.execute(now=NOW)] == ["Kept"]
    assert api.calls == []


def test_transition_changes_the_policy_of_the_current_version_once():
    api = FakeApi()
    api.put("c", "tagged", 10, tags={"tier": "cold"})
    api.put("c", "plain", 10)
    api.put("c", "moved", 10, policy="COLD", tags={"tier": "cold"})
    lc = lifecycle_of(api, conf(rule(
        "<Transition><Days>5</Days><StorageClass>COLD</StorageClass>"
        "</Transition>",
        filter_="<Tag><Key>tier</Key><Value>cold</Value></Tag>")))
    results = {m["name"]: res for m, _, _, res in lc.execute(now=NOW)}
    assert results == {"tagged": "Policy changed to COLD", "plain": "Kept",
                       "moved": "Policy already changed to COLD"}
    assert api.calls == [("policy", "c", "tagged", "COLD", 1)]


def test_noncurrent_versions_beyond_a_count_are_deleted():
    api = FakeApi(page=3)   # versions of one object over several pages
    for _ in range(4):
        api.put("c", "doc", 0)
    api.put("c", "single", 0)
    lc = lifecycle_of(api, conf(rule(
        "<NoncurrentVersionExpiration><NoncurrentCount>1</NoncurrentCount>"
        "</NoncurrentVersionExpiration>")))
    results = [(m["name"], m["version"], res) for m, _, _, res in
               lc.execute(now=NOW)]
    assert results == [("doc", 4, "Kept"), ("doc", 3, "Kept"),
                       ("doc", 2, "Deleted"), ("doc", 1, "Deleted"),
                       ("single", 1, "Kept")]
    assert [v["version"] for v in api.containers["c"]["doc"]] == [4, 3]


def test_noncurrent_days_and_transition_of_old_versions():
    api = FakeApi()
    api.put("c", "doc", 30)
    api.put("c", "doc", 10)
    api.put("c", "doc", 0)
    lc = lifecycle_of(api, conf(rule(
        "<NoncurrentVersionExpiration><NoncurrentDays>20</NoncurrentDays>"
        "</NoncurrentVersionExpiration>"
        "<NoncurrentVersionTransition><NoncurrentDays>5</NoncurrentDays>"
        "<StorageClass>COLD</StorageClass></NoncurrentVersionTransition>")))
    assert [type(a) for a in lc.rules[0].actions] == [
        NoncurrentVersionExpiration, NoncurrentVersionTransition]
    results = [(m["version"], action, res)
               for m, _, action, res in lc.execute(now=NOW)]
    assert results == [
        (3, "NoncurrentVersionExpiration", "Kept"),
        (3, "NoncurrentVersionTransition", "Kept"),
        (2, "NoncurrentVersionExpiration", "Kept"),
        (2, "NoncurrentVersionTransition", "Policy changed to COLD"),
        (1, "NoncurrentVersionExpiration", "Deleted")]


def test_apply_alone_asks_the_current_version_and_skips_markers():
    api = FakeApi()
    api.put("c", "doc", 10)
    api.put("c", "doc", 10)
    lc = lifecycle_of(api, conf(rule(
        "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
        "</NoncurrentVersionExpiration>")))
    current, old = (dict(v, container="c", orig_name="doc")
                    for v in api.containers["c"]["doc"])
    assert [r[3] for r in lc.apply(current, now=NOW)] == ["Kept"]
    assert [r[3] for r in lc.apply(old, now=NOW)] == ["Deleted"]
    assert list(lc.apply(dict(current, deleted="true"), now=NOW)) == []
    # Without what a pass records, the lifecycle's container is assumed.
    api.put("c", "other", 10)
    bare = dict(api.containers["c"]["other"][0])
    lc.load_xml(conf(rule("<Expiration><Days>1</Days></Expiration>")))
    assert [r[3] for r in lc.apply(bare, now=NOW)] == ["Deleted"]
    assert api.calls[-1] == ("delete", "c", "other", None)


def test_failures_are_results_and_the_pass_goes_on():
    api = FakeApi()
    api.put("c", "a", 10)
    api.put("c", "b", 10)
    api.broken.add("a")
    lc = lifecycle_of(api, conf(rule("<Expiration><Days>1</Days>"
                                     "</Expiration>")))
    results = [(m["name"], res) for m, _, _, res in lc.execute(now=NOW)]
    assert results[0][0] == "a" and isinstance(results[0][1], NoSuchObject)
    assert results[1] == ("b", "Deleted")


def test_recursive_pass_names_objects_by_their_s3_key():
    api = FakeApi()
    api.put("bucket", "top", 10)
    api.put("bucket%2Fdocs%2F2020", "report", 10)
    api.put("bucketother", "x", 10)
    lc = ContainerLifecycle(api, "acct", "bucket", recursive=True)
    lc.load_xml(conf(rule("<Expiration><Days>1</Days></Expiration>",
                          filter_="<Prefix>docs/</Prefix>")))
    results = {(m["container"], m["name"], res)
               for m, _, _, res in lc.execute(now=NOW)}
    assert results == {("bucket", "top", "Kept"),
                       ("bucket%2Fdocs%2F2020", "docs/2020/report", "Deleted")}
    assert ("delete", "bucket%2Fdocs%2F2020", "report", None) in api.calls
