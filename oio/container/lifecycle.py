"""Container lifecycle: S3 lifecycle rules, kept in a container property
and applied to the container's objects on request (`openio lifecycle
apply`, ContainerLifecycle.execute).

A configuration is S3's `LifecycleConfiguration` XML document. Each rule
has a filter (key prefix and/or object tags, S3's tagging XML kept in the
TAGGING_KEY object property) and actions: Expiration (delete the current
version, by Days or Date), Transition (rewrite the current version in
another storage policy, the rule's StorageClass), NoncurrentVersion-
Expiration (by NoncurrentDays or NoncurrentCount) and NoncurrentVersion-
Transition. Names, results and behaviour are OpenIO 7.2's: an applied
action reports "Deleted" or "Policy changed to X", an action that waited
"Kept", a failed one the exception; the first action that did something
ends the object's pass.
"""

from __future__ import annotations

import logging
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from oio.common.constants import CH_ENCODED_SEPARATOR, CH_SEPARATOR
from oio.common.easy_value import true_value
from oio.common.exceptions import NoSuchAccount, OioException

ALLOWED_STATUSES = ["enabled", "disabled"]
# Where the configuration lives: a container property (as S3's gateway
# keeps it, so both see the same rules).
LIFECYCLE_PROPERTY_KEY = "X-Container-Sysmeta-Swift3-Lifecycle"
# Where S3 keeps an object's tags (a <Tagging> XML document).
TAGGING_KEY = "x-object-sysmeta-swift3-tagging"
XMLNS_S3 = "http://s3.amazonaws.com/doc/2006-03-01/"

DAY = 86400
Result = tuple[dict, str, str, Any]


def tag(tagname: str) -> str:
    """The qualified name of an element of S3's namespace."""
    return f"{{{XMLNS_S3}}}{tagname}"


def iso8601_to_int(when: str) -> int:
    """Seconds since the epoch of an ISO 8601 date (UTC unless it says)."""
    try:
        parsed = datetime.fromisoformat(when.strip())
    except (AttributeError, ValueError):
        raise ValueError(f"Invalid date '{when}': expected an ISO 8601 "
                         "date such as 2030-01-31T00:00:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp())


def int_to_iso8601(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S")


# XML helpers: elements are matched by local name, with or without S3's
# namespace (clients send both), and work on lxml elements too.

def _local(elt_tag) -> str:
    return elt_tag.rsplit("}", 1)[-1] if isinstance(elt_tag, str) else ""


def _children(elt, name: str) -> list:
    return [child for child in elt if _local(child.tag) == name]


def _last(elt, name: str):
    found = _children(elt, name)
    return found[-1] if found else None


def _value(elt, name: str, where: str = "", required: bool = False
           ) -> str | None:
    """Text of the last `name` child; an error when the element is there
    but empty, or missing and `required`."""
    child = _last(elt, name)
    if child is None:
        if required:
            raise ValueError(f"Missing '{name}' element{where}")
        return None
    if child.text is None or not child.text.strip():
        raise ValueError(f"Missing value for '{name}' element")
    return child.text.strip()


def _element(name: str, text: str | None = None, *children) -> ET.Element:
    elt = ET.Element(name)
    if text is not None:
        elt.text = text
    elt.extend(children)
    return elt


def _to_string(elt: ET.Element) -> str:
    return ET.tostring(elt, encoding="unicode", short_empty_elements=False)


def _parse(xml: str | bytes, root_name: str) -> ET.Element:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise ValueError(f"Invalid XML document: {err}") from None
    if root.tag not in (root_name, f"{{{XMLNS_S3}}}{root_name}"):
        raise ValueError(f"Expected '{root_name}' as root tag, "
                         f"got '{root.tag}'")
    return root


class ProcessedVersions:
    """Versions of the object being processed: a listing gives each
    object's versions together, newest first, so the first one seen is
    the current one."""

    def __init__(self, **_kwargs) -> None:
        self.name: str | None = None
        self.versions: list[int] = []

    def is_already_processed(self, obj_meta: dict, **_kwargs) -> bool:
        return (obj_meta["name"] == self.name
                and int(obj_meta["version"]) in self.versions)

    def is_current(self, obj_meta: dict, **_kwargs) -> bool:
        return obj_meta["name"] != self.name

    def save_object(self, obj_meta: dict, **_kwargs) -> None:
        if obj_meta["name"] != self.name:
            self.name, self.versions = obj_meta["name"], []
        self.versions.append(int(obj_meta["version"]))

    def nb_processed(self, obj_meta: dict, **_kwargs) -> int:
        """Versions of this object already seen (the newer ones)."""
        return len(self.versions) if obj_meta["name"] == self.name else 0


class ContainerLifecycle:
    """The lifecycle configuration of one container, and its application
    to the container's objects (and to its sub-containers with
    `recursive`, for sharded S3 buckets)."""

    def __init__(self, api, account: str, container: str,
                 logger: logging.Logger | None = None,
                 recursive: bool = False) -> None:
        self.api = api
        self.account = account
        self.container = container
        self.logger = logger or logging.getLogger(__name__)
        self.recursive = recursive
        self.rules: list[LifecycleRule] = []
        self.processed_versions: ProcessedVersions | None = None

    # Configuration ----------------------------------------------------------
    def get_configuration(self) -> str | None:
        """The configuration XML of the container, None if it has none."""
        props = self.api.container_get_properties(self.account,
                                                  self.container)
        return (props.get("properties") or {}).get(LIFECYCLE_PROPERTY_KEY)

    def load(self) -> bool:
        """Load the container's rules; False when it has none."""
        xml = self.get_configuration()
        if xml is None:
            self.logger.info("No lifecycle configuration for %s/%s",
                             self.account, self.container)
            return False
        self.load_xml(xml)
        return True

    def load_xml(self, xml_str: str | bytes) -> None:
        """Load the rules of a LifecycleConfiguration document (ValueError
        when it is not a valid one)."""
        root = _parse(xml_str, "LifecycleConfiguration")
        rules = [LifecycleRule.from_element(elt, lifecycle=self)
                 for elt in _children(root, "Rule")]
        ids = [rule.id for rule in rules]
        if len(set(ids)) != len(ids):
            raise ValueError("Rule IDs must be unique")
        self.rules = rules

    def _to_element_tree(self, **kwargs) -> ET.Element:
        root = ET.Element("LifecycleConfiguration", xmlns=XMLNS_S3)
        root.extend(rule._to_element_tree(**kwargs) for rule in self.rules)
        return root

    def __str__(self) -> str:
        return _to_string(self._to_element_tree())

    def save(self, xml_str: str | None = None) -> None:
        """Store the configuration (`xml_str`, or the rules loaded before)
        in the container property."""
        if xml_str is not None:
            self.load_xml(xml_str)
        if not self.rules:
            raise ValueError("No lifecycle rule to save: call load_xml() "
                             "first")
        self.api.container_set_properties(
            self.account, self.container,
            properties={LIFECYCLE_PROPERTY_KEY: str(self)})

    # Application -----------------------------------------------------------
    def apply(self, obj_meta: dict, **kwargs) -> Iterator[Result]:
        """Apply the rules to one object version: (object, rule ID,
        action, result) tuples, lazily (nothing happens unless consumed).
        `now` (seconds) replaces the current time."""
        if true_value(obj_meta.get("deleted")):
            return
        for rule in self.rules:
            results = rule.apply(obj_meta, **kwargs)
            if not results:
                yield obj_meta, rule.id, "n/a", "Kept"
                continue
            for action, result in results:
                yield obj_meta, rule.id, action, result
                if result != "Kept":
                    return

    def _listing(self, container: str) -> Iterator[dict]:
        marker = None
        while True:
            page = self.api.object_list(
                self.account, container, marker=marker, properties=True,
                versions=True)
            yield from page.get("objects", [])
            marker = page.get("next_marker")
            if not page.get("truncated") or not marker:
                return

    def process_container(self, container: str, **kwargs
                          ) -> Iterator[Result]:
        """Apply the rules to every object version of `container`."""
        for obj_meta in self._listing(container):
            obj_meta["orig_name"] = obj_meta["name"]
            if self.recursive and CH_ENCODED_SEPARATOR in container:
                # The key the S3 user knows: the sub-container's path,
                # then the name in it.
                path = container.split(CH_ENCODED_SEPARATOR, 1)[1]
                obj_meta["name"] = path.replace(
                    CH_ENCODED_SEPARATOR, CH_SEPARATOR) + CH_SEPARATOR \
                    + obj_meta["orig_name"]
            obj_meta["container"] = container
            done = self.processed_versions
            if done is not None and done.is_already_processed(obj_meta):
                continue
            try:
                yield from self.apply(obj_meta, **kwargs)
            except Exception as err:
                self.logger.warning(
                    "Failed to apply lifecycle rules on %s/%s/%s: %s",
                    self.account, container, obj_meta["name"], err)
                yield obj_meta, "n/a", "n/a", err
            if done is not None:
                done.save_object(obj_meta)

    def _sub_containers(self) -> Iterator[str]:
        prefix = self.container + CH_ENCODED_SEPARATOR
        marker = None
        while True:
            try:
                listing = self.api.container_list(
                    self.account, marker=marker, prefix=prefix)
            except NoSuchAccount:   # not known to the account service yet
                return
            if not listing:
                return
            for entry in listing:
                yield entry[0]
            marker = listing[-1][0]

    def execute(self, use_precessed_versions: bool = True, **kwargs
                ) -> Iterator[Result]:
        """Apply the rules to every object of the container (and of its
        sub-containers when recursive), lazily, as apply()."""
        if use_precessed_versions:
            self.processed_versions = ProcessedVersions()
        try:
            yield from self.process_container(self.container, **kwargs)
            if self.recursive:
                for container in self._sub_containers():
                    yield from self.process_container(container, **kwargs)
        finally:
            self.processed_versions = None

    def location(self, obj_meta: dict) -> tuple[str, str]:
        """(container, name in it) of an object version: what a pass
        records, else this container and the object's name."""
        return (obj_meta.get("container") or self.container,
                obj_meta.get("orig_name") or obj_meta["name"])

    def is_current_version(self, obj_meta: dict, **_kwargs) -> bool:
        if self.processed_versions is not None:
            return self.processed_versions.is_current(obj_meta)
        latest = self.api.object_get_properties(self.account,
                                                *self.location(obj_meta))
        return str(latest["version"]) == str(obj_meta["version"])


class LifecycleRuleFilter:
    """Which objects a rule applies to: a key prefix and tags (all must
    match; none means every object)."""

    def __init__(self, prefix: str | None, tags: dict[str, str],
                 **_kwargs) -> None:
        self.prefix = prefix
        self.tags = tags

    @classmethod
    def from_element(cls, filter_elt, **kwargs) -> LifecycleRuleFilter:
        and_elt = _last(filter_elt, "And")
        if and_elt is not None:
            prefix = _value(and_elt, "Prefix")
            tags = cls._tags_from_element(and_elt)
        else:
            prefix = _value(filter_elt, "Prefix")
            tag_elt = _last(filter_elt, "Tag")
            tags = dict([cls._tag_from_element(tag_elt)]) \
                if tag_elt is not None else {}
            if prefix and tags:
                raise ValueError("Too many filters, use <And>")
        return cls(prefix, tags, **kwargs)

    @staticmethod
    def _tag_from_element(tag_elt, nsmap=None) -> tuple[str, str]:
        key = _value(tag_elt, "Key", " in 'Tag'", required=True)
        value = _value(tag_elt, "Value", f" in 'Tag' (key={key})",
                       required=True)
        return key, value

    @classmethod
    def _tags_from_element(cls, tags_elt, nsmap=None) -> dict[str, str]:
        tags: dict[str, str] = {}
        for tag_elt in _children(tags_elt, "Tag"):
            key, value = cls._tag_from_element(tag_elt)
            if key in tags:
                raise ValueError("Duplicate Tag Keys are not allowed")
            tags[key] = value
        return tags

    def _to_element_tree(self, **_kwargs) -> ET.Element:
        parts = []
        if self.prefix is not None:
            parts.append(_element("Prefix", self.prefix))
        parts += [_element("Tag", None, _element("Key", k),
                           _element("Value", v))
                  for k, v in self.tags.items()]
        if len(parts) > 1:
            return _element("Filter", None, _element("And", None, *parts))
        return _element("Filter", None, *parts)

    def __str__(self) -> str:
        return _to_string(self._to_element_tree())

    def object_tags(self, obj_meta: dict) -> dict[str, str]:
        """The tags of an object (its TAGGING_KEY property)."""
        xml = (obj_meta.get("properties") or {}).get(TAGGING_KEY)
        if xml is None:
            return {}
        root = _parse(xml, "Tagging")
        tag_set = _last(root, "TagSet")
        if tag_set is None:
            raise ValueError("Missing 'TagSet' element in 'Tagging'")
        return self._tags_from_element(tag_set)

    def match(self, obj_meta: dict, **_kwargs) -> bool:
        if self.prefix and not obj_meta["name"].startswith(self.prefix):
            return False
        if self.tags:
            tags = self.object_tags(obj_meta)
            return all(tags.get(k) == v for k, v in self.tags.items())
        return True


# Conditions of the actions -------------------------------------------------

class LifecycleActionFilter:
    """When an action takes effect."""

    def __init__(self, lifecycle: ContainerLifecycle | None = None,
                 **_kwargs) -> None:
        self.lifecycle = lifecycle

    def _to_element_tree(self, **kwargs) -> ET.Element:
        raise NotImplementedError

    def __str__(self) -> str:
        return _to_string(self._to_element_tree())

    def match(self, obj_meta: dict, now: float | None = None,
              **kwargs) -> bool:
        raise NotImplementedError


def _int_text(elt, minimum: int, message: str) -> int:
    try:
        value = int((elt.text or "").strip())
    except ValueError:
        raise ValueError(message) from None
    if value < minimum:
        raise ValueError(message)
    return value


class DaysActionFilter(LifecycleActionFilter):
    """`days` days after the object's last modification."""

    XML_TAG = "Days"

    def __init__(self, days: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.days = days

    @classmethod
    def from_element(cls, days_elt, **kwargs) -> DaysActionFilter:
        return cls(_int_text(days_elt, 1,
                             "The days must be a positive integer"), **kwargs)

    def _to_element_tree(self, **_kwargs) -> ET.Element:
        return _element(self.XML_TAG, str(self.days))

    def match(self, obj_meta: dict, now: float | None = None,
              **_kwargs) -> bool:
        now = now or time.time()
        return float(obj_meta["mtime"]) + self.days * DAY < now


class NoncurrentDaysActionFilter(DaysActionFilter):
    XML_TAG = "NoncurrentDays"


class DateActionFilter(LifecycleActionFilter):
    """From a date (rounded down to midnight UTC) on, for the objects last
    modified before it."""

    def __init__(self, date: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.date = date

    @classmethod
    def from_element(cls, date_elt, **kwargs) -> DateActionFilter:
        date = iso8601_to_int(date_elt.text or "")
        return cls(date - date % DAY, **kwargs)

    def _to_element_tree(self, **_kwargs) -> ET.Element:
        return _element("Date", int_to_iso8601(self.date))

    def match(self, obj_meta: dict, now: float | None = None,
              **_kwargs) -> bool:
        now = now or time.time()
        return now > self.date and float(obj_meta["mtime"]) < self.date


class NoncurrentCountActionFilter(LifecycleActionFilter):
    """Beyond the `count` newest noncurrent versions."""

    def __init__(self, count: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.count = count
        # Without a ContainerLifecycle pass, count the versions seen here.
        self.last_object_name: str | None = None
        self.nb_noncurrent_version = 0

    @classmethod
    def from_element(cls, count_elt, **kwargs) -> NoncurrentCountActionFilter:
        return cls(_int_text(
            count_elt, 0, "The count must be greater than or equal to zero"),
            **kwargs)

    def _to_element_tree(self, **_kwargs) -> ET.Element:
        return _element("NoncurrentCount", str(self.count))

    def match(self, obj_meta: dict, **_kwargs) -> bool:
        done = self.lifecycle.processed_versions if self.lifecycle else None
        if done is not None:
            return self.count < done.nb_processed(obj_meta)
        if obj_meta["name"] != self.last_object_name:
            self.last_object_name = obj_meta["name"]
            self.nb_noncurrent_version = 1
        else:
            self.nb_noncurrent_version += 1
        return self.count < self.nb_noncurrent_version


# Actions -------------------------------------------------------------------

def _one_of(elt, action: str, filters: dict[str, type], **kwargs):
    """The action filter of `elt`: exactly one of `filters` (by tag)."""
    present = [(name, _last(elt, name)) for name in filters]
    present = [(name, child) for name, child in present if child is not None]
    names = " or ".join(f"'{name}'" for name in filters)
    if not present:
        raise ValueError(f"Missing {names} element in {action} action")
    if len(present) > 1:
        raise ValueError(f"{' and '.join(repr(n) for n, _ in present)} "
                         f"in same {action} action")
    name, child = present[0]
    return filters[name].from_element(child, **kwargs)


class LifecycleAction(LifecycleActionFilter):
    """An action on the current version of matching objects."""

    XML_TAG = ""

    def __init__(self, filter_: LifecycleActionFilter | None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.filter = filter_

    def _match_filter(self, obj_meta: dict, **kwargs) -> bool:
        return self.filter is None or self.filter.match(obj_meta, **kwargs)

    def match(self, obj_meta: dict, **kwargs) -> bool:
        return self.lifecycle.is_current_version(obj_meta, **kwargs) \
            and self._match_filter(obj_meta, **kwargs)

    def _to_element_tree(self, **kwargs) -> ET.Element:
        return _element(self.XML_TAG, None,
                        self.filter._to_element_tree(**kwargs))

    def apply(self, obj_meta: dict, **kwargs) -> str:
        """Apply the action if it matches: what it did, or "Kept"."""
        raise NotImplementedError


class Expiration(LifecycleAction):
    """Delete the object (a delete marker in a versioned container)."""

    XML_TAG = "Expiration"
    FILTERS: dict[str, type] = {"Days": DaysActionFilter,
                                "Date": DateActionFilter}

    @classmethod
    def from_element(cls, expiration_elt, **kwargs) -> Expiration:
        return cls(_one_of(expiration_elt, cls.XML_TAG, cls.FILTERS,
                           **kwargs), **kwargs)

    def apply(self, obj_meta: dict, version=None, **kwargs) -> str:
        if not self.match(obj_meta, **kwargs):
            return "Kept"
        deleted = self.lifecycle.api.object_delete(
            self.lifecycle.account, *self.lifecycle.location(obj_meta),
            version=version)
        return "Deleted" if deleted else "Kept"


class Transition(LifecycleAction):
    """Rewrite the object's data with another storage policy."""

    XML_TAG = "Transition"
    STORAGE_POLICY_XML_TAG = "StorageClass"
    FILTERS: dict[str, type] = {"Days": DaysActionFilter,
                                "Date": DateActionFilter}

    def __init__(self, filter_: LifecycleActionFilter | None, policy: str,
                 **kwargs) -> None:
        super().__init__(filter_, **kwargs)
        self.policy = policy

    @classmethod
    def from_element(cls, transition_elt, **kwargs) -> Transition:
        policy = _value(transition_elt, cls.STORAGE_POLICY_XML_TAG,
                        f" in {cls.XML_TAG} action", required=True)
        return cls(_one_of(transition_elt, cls.XML_TAG, cls.FILTERS,
                           **kwargs), policy, **kwargs)

    def _to_element_tree(self, **kwargs) -> ET.Element:
        elt = super()._to_element_tree(**kwargs)
        elt.insert(0, _element(self.STORAGE_POLICY_XML_TAG, self.policy))
        return elt

    def apply(self, obj_meta: dict, **kwargs) -> str:
        if not self.match(obj_meta, **kwargs):
            return "Kept"
        if obj_meta.get("policy") == self.policy:
            return f"Policy already changed to {self.policy}"
        self.lifecycle.api.object_change_policy(
            self.lifecycle.account, *self.lifecycle.location(obj_meta),
            self.policy, version=obj_meta["version"])
        return f"Policy changed to {self.policy}"


class _Noncurrent:
    """For the versions that are not the current one."""

    def match(self, obj_meta: dict, **kwargs) -> bool:
        return not self.lifecycle.is_current_version(obj_meta, **kwargs) \
            and self._match_filter(obj_meta, **kwargs)


class NoncurrentVersionExpiration(_Noncurrent, Expiration):
    """Delete old versions of the object."""

    XML_TAG = "NoncurrentVersionExpiration"
    FILTERS = {"NoncurrentDays": NoncurrentDaysActionFilter,
               "NoncurrentCount": NoncurrentCountActionFilter}

    def apply(self, obj_meta: dict, **kwargs) -> str:
        kwargs.pop("version", None)
        return super().apply(obj_meta, version=obj_meta["version"], **kwargs)


class NoncurrentVersionTransition(_Noncurrent, Transition):
    """Rewrite old versions of the object with another storage policy."""

    XML_TAG = "NoncurrentVersionTransition"
    FILTERS = {"NoncurrentDays": NoncurrentDaysActionFilter}


# Rules ---------------------------------------------------------------------

def _sorted_actions(actions: list, first=None) -> list:
    """Transitions, latest first, all conditioned the same way (days or
    date) as `first` (the expiration), which must come after them all."""
    kinds = {type(a.filter) for a in actions}
    if first is not None:
        kinds.add(type(first.filter))
    if len(kinds) > 1:
        names = " and ".join(sorted(
            repr(k(0)._to_element_tree().tag) for k in kinds))
        raise ValueError(f"{names} in the same Rule")
    if kinds == {DateActionFilter}:
        def key(action):
            return action.filter.date
    else:
        def key(action):
            return action.filter.days
    actions = sorted(actions, key=key, reverse=True)
    if first is not None and actions and key(first) <= key(actions[0]):
        raise ValueError(
            f"The {first.XML_TAG} action must take effect after every "
            f"{actions[0].XML_TAG} action (later 'Date' or more 'Days')")
    return actions


class LifecycleRule:
    """A filter and the actions it leads to."""

    def __init__(self, id_: str, filter_: LifecycleRuleFilter, enabled: bool,
                 actions: list[LifecycleAction]) -> None:
        self.id = id_
        self.filter = filter_
        self.enabled = enabled
        self.actions = actions

    @classmethod
    def from_element(cls, rule_elt, **kwargs) -> LifecycleRule:
        id_ = _value(rule_elt, "ID") or uuid.uuid4().hex
        filter_elt = _last(rule_elt, "Filter")
        if filter_elt is None:
            raise ValueError("Missing 'Filter' element")
        filter_ = LifecycleRuleFilter.from_element(filter_elt)
        status = _value(rule_elt, "Status", required=True).lower()
        if status not in ALLOWED_STATUSES:
            raise ValueError(f"Unknown 'Status' element '{status}' "
                             "(Enabled or Disabled)")
        actions: list[LifecycleAction] = []
        for expiration_cls, transition_cls in (
                (Expiration, Transition),
                (NoncurrentVersionExpiration, NoncurrentVersionTransition)):
            elt = _last(rule_elt, expiration_cls.XML_TAG)
            expiration = expiration_cls.from_element(elt, **kwargs) \
                if elt is not None else None
            transitions = [transition_cls.from_element(t, **kwargs)
                           for t in _children(rule_elt,
                                              transition_cls.XML_TAG)]
            if expiration is not None:
                actions.append(expiration)
            actions += _sorted_actions(transitions, expiration)
        if not actions:
            raise ValueError(
                "At least one action needs to be specified in a Rule")
        return cls(id_, filter_, status == "enabled", actions)

    def _to_element_tree(self, **kwargs) -> ET.Element:
        return _element(
            "Rule", None, _element("ID", self.id),
            self.filter._to_element_tree(**kwargs),
            _element("Status", "Enabled" if self.enabled else "Disabled"),
            *(action._to_element_tree(**kwargs) for action in self.actions))

    def __str__(self) -> str:
        return _to_string(self._to_element_tree())

    def match(self, obj_meta: dict, **_kwargs) -> bool:
        return self.filter.match(obj_meta)

    def apply(self, obj_meta: dict, **kwargs) -> list[tuple[str, Any]]:
        """(action class name, result) of the actions tried, up to the
        first that did something; an OpenIO error is a result too."""
        results: list[tuple[str, Any]] = []
        if not (self.enabled and self.match(obj_meta)):
            return results
        for action in self.actions:
            try:
                result = action.apply(obj_meta, **kwargs)
            except OioException as err:
                results.append((type(action).__name__, err))
                continue
            results.append((type(action).__name__, result))
            if result != "Kept":
                break
        return results
