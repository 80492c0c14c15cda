"""Storage policies, data securities, service pools and the namespace info.

Parses the conscience configuration files (naming.md §7.1, §7.2) and the
JSON of `conscience/info` (naming.md §7.4); both directions round-trip.
"""

from __future__ import annotations

import configparser
import glob
from dataclasses import dataclass, field

DEFAULT_POLICY = "NONE"
DIST_OPTIONS = ("min_dist", "max_dist", "warn_dist")
POOL_DEFAULTS = {"min_dist": 1, "max_dist": 4, "warn_dist": 0}


class PolicyNotSupported(ValueError):
    """Unknown storage policy (oio status 480)."""

    status = 480


def _split_params(text: str, seps: str = ",|") -> dict[str, str]:
    params: dict[str, str] = {}
    for sep in seps[1:]:
        text = text.replace(sep, seps[0])
    for item in text.split(seps[0]):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition("=")
        params[key.strip()] = value.strip() if _ else "1"
    return params


@dataclass
class DataSecurity:
    name: str
    kind: str = "plain"
    params: dict[str, str] = field(default_factory=dict)
    text: str = "plain/nb_copy=1"

    @classmethod
    def parse(cls, name: str, text: str) -> DataSecurity:
        """`plain/nb_copy=3,min_dist=1`, `ec/k=6,m=3,algo=...` or NONE."""
        text = (text or "").strip()
        if not text or text.upper() == "NONE" or text == "plain":
            return cls(name, "plain", {}, text or "NONE")
        kind, _, rest = text.partition("/")
        kind = kind.strip()
        if kind not in ("plain", "ec", "backblaze"):
            raise ValueError(f"unknown data security type {kind!r} in {name}")
        params = _split_params(rest)
        if "distance" in params and "min_dist" not in params:
            params["min_dist"] = params.pop("distance")
        return cls(name, kind, params, text)

    def int_param(self, key: str, default: int) -> int:
        try:
            return int(self.params.get(key, default))
        except ValueError:
            return default


@dataclass
class StoragePolicy:
    name: str
    pool: str
    data_security: DataSecurity
    text: str = "NONE:NONE"

    def nb_chunks(self) -> int:
        ds = self.data_security
        if ds.kind == "ec":
            return ds.int_param("k", 6) + ds.int_param("m", 4)
        return max(ds.int_param("nb_copy", 1), 1)

    def chunk_method(self) -> str:
        ds = self.data_security
        if ds.kind == "ec":
            return (f"ec/algo={ds.params.get('algo', 'liberasurecode_rs_vand')},"
                    f"k={ds.int_param('k', 6)},m={ds.int_param('m', 4)}")
        if ds.kind == "backblaze":
            return (f"backblaze/account_id={ds.params.get('account_id', '')},"
                    f"bucket_name={ds.params.get('bucket_name', '')}")
        return f"plain/nb_copy={max(ds.int_param('nb_copy', 1), 1)}"


@dataclass
class Pool:
    name: str
    targets: list[tuple[int, list[str]]]
    min_dist: int = 1
    max_dist: int = 4
    warn_dist: int = 0
    nearby_mode: bool = False

    @classmethod
    def parse(cls, name: str, targets: str, options: dict[str, str]) -> Pool:
        parsed: list[tuple[int, list[str]]] = []
        for target in targets.split(";"):
            words = [w.strip() for w in target.split(",") if w.strip()]
            if not words:
                continue
            count = 1
            if words[0].isdigit():
                count = int(words.pop(0))
            if words and count > 0:
                parsed.append((count, words))
        pool = cls(name, parsed)
        for key in DIST_OPTIONS:
            if key in options:
                try:
                    value = int(options[key])
                except ValueError:
                    continue
                low = 0 if key == "warn_dist" else 1
                high = 5 if key == "warn_dist" else 4
                if low <= value <= high:       # out of range: ignored
                    setattr(pool, key, value)
        if "nearby_mode" in options:
            pool.nearby_mode = options["nearby_mode"].lower() in (
                "1", "true", "yes", "on")
        return pool

    def nb_targets(self) -> int:
        return sum(count for count, _ in self.targets)

    def to_text(self) -> str:
        parts = [f"{count},{','.join(slots)}" for count, slots in self.targets]
        for key in DIST_OPTIONS:
            value = getattr(self, key)
            if value != POOL_DEFAULTS[key]:
                parts.append(f"{key}={value}")
        if self.nearby_mode:
            parts.append("nearby_mode=true")
        return ";".join(parts)


@dataclass
class ServiceType:
    """Scoring rules of one service type ([type:T] sections)."""

    name: str
    score_expr: str = "100"
    score_timeout: float = 300.0
    score_variation_bound: int = 5
    lock_at_first_register: bool = True


BUILTIN_TYPES = {
    "meta0": ServiceType("meta0", "100"),
    "meta1": ServiceType("meta1", "root(2,((num stat.cpu)*(num stat.io)))"),
    "meta2": ServiceType("meta2", "root(2,((num stat.cpu)*(num stat.io)))"),
    "rawx": ServiceType(
        "rawx", "root(3,((num stat.cpu)*(num stat.io)*(num stat.space)))"),
}


@dataclass
class NamespaceInfo:
    name: str
    chunk_size: int = 10 * 1024 * 1024
    options: dict[str, str] = field(default_factory=dict)
    policies: dict[str, StoragePolicy] = field(default_factory=dict)
    data_security: dict[str, DataSecurity] = field(default_factory=dict)
    pools: dict[str, Pool] = field(default_factory=dict)
    # pools made for policies naming an undeclared one, made once
    _auto_pools: dict[str, Pool] = field(default_factory=dict, repr=False,
                                         compare=False)

    # Building --------------------------------------------------------------
    def add_data_security(self, name: str, text: str) -> None:
        self.data_security[name] = DataSecurity.parse(name, text)

    def add_policy(self, name: str, text: str) -> None:
        pool, _, ds_name = (text or "").partition(":")
        pool = pool.strip()
        ds_name = ds_name.strip()
        if not ds_name or ds_name.upper() == "NONE" or ds_name == "plain":
            ds = DataSecurity.parse("NONE", "")
        elif ds_name in self.data_security:
            ds = self.data_security[ds_name]
        else:
            raise ValueError(f"policy {name}: unknown data security {ds_name}")
        if not pool or pool.upper() == "NONE":
            pool = name
        self.policies[name] = StoragePolicy(name, pool, ds, text)

    def add_pool(self, name: str, text: str) -> None:
        """`targets;key=value;...` as conscience/info serializes pools."""
        pieces = text.split(";")
        targets = ";".join(p for p in pieces if "=" not in p)
        options = {}
        for piece in pieces:
            if "=" in piece:
                key, _, value = piece.partition("=")
                options[key.strip()] = value.strip()
        self.pools[name] = Pool.parse(name, targets, options)

    @classmethod
    def from_dict(cls, info: dict) -> NamespaceInfo:
        """From the JSON of GET conscience/info."""
        ns = cls(name=str(info.get("ns") or ""),
                 chunk_size=int(info.get("chunksize") or 10 * 1024 * 1024),
                 options={k: str(v) for k, v in
                          (info.get("options") or {}).items()})
        for name, text in (info.get("data_security") or {}).items():
            ns.add_data_security(name, text)
        for name, text in (info.get("storage_policy") or {}).items():
            ns.add_policy(name, text)
        for name, text in (info.get("service_pools") or {}).items():
            ns.add_pool(name, text)
        return ns

    def to_dict(self) -> dict:
        options: dict[str, object] = {}
        for key, value in self.options.items():
            options[key] = int(value) if str(value).isdigit() else value
        return {
            "ns": self.name,
            "chunksize": self.chunk_size,
            "options": options,
            "storage_policy": {n: p.text for n, p in self.policies.items()},
            "service_pools": {n: p.to_text() for n, p in self.pools.items()},
            "data_security": {n: d.text for n, d in self.data_security.items()},
        }

    # Queries ---------------------------------------------------------------
    def get_policy(self, name: str | None) -> StoragePolicy:
        if not name or name.upper() == DEFAULT_POLICY:
            name = self.options.get("storage_policy") or DEFAULT_POLICY
        policy = self.policies.get(name)
        if policy is not None:
            return policy
        if name.upper() == DEFAULT_POLICY:
            return StoragePolicy(DEFAULT_POLICY, "rawx",
                                 DataSecurity.parse("NONE", ""))
        raise PolicyNotSupported(f"Storage policy not supported: {name}")

    def pool_for_policy(self, policy: StoragePolicy) -> Pool:
        pool = self.pools.get(policy.pool)
        if pool is not None:
            return pool
        key = f"{policy.pool}|{policy.text}"
        pool = self._auto_pools.get(key)
        if pool is None:
            ds = policy.data_security
            options = {k: ds.params[k] for k in ("min_dist", "warn_dist")
                       if k in ds.params}
            pool = Pool.parse(policy.pool, f"{policy.nb_chunks()},rawx",
                              options)
            self._auto_pools[key] = pool
        return pool


# Configuration files (conscience side) ------------------------------------
def _parser(path: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str          # policy names are case-sensitive
    with open(path, encoding="utf-8") as src:
        parser.read_file(src)
    return parser


def load_policies(ns: NamespaceInfo, path: str) -> None:
    """Read `<NS>-policies.conf` ([STORAGE_POLICY], [DATA_SECURITY])."""
    parser = _parser(path)
    if parser.has_section("DATA_SECURITY"):
        for name, text in parser.items("DATA_SECURITY"):
            ns.add_data_security(name, text)
    if parser.has_section("STORAGE_POLICY"):
        for name, text in parser.items("STORAGE_POLICY"):
            ns.add_policy(name, text)


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on", "enabled")


def load_services(ns: NamespaceInfo, pattern: str) -> dict[str, ServiceType]:
    """Read the [pool:P] and [type:T] sections of every file of `pattern`;
    return the service types (built-in ones included)."""
    types = {name: ServiceType(**vars(t)) for name, t in BUILTIN_TYPES.items()}
    for path in sorted(glob.glob(pattern)):
        parser = _parser(path)
        for section in parser.sections():
            kind, _, name = section.partition(":")
            values = dict(parser.items(section))
            if kind == "pool" and name:
                options = {k: v for k, v in values.items() if k != "targets"}
                ns.pools[name] = Pool.parse(name, values.get("targets", ""),
                                            options)
            elif kind == "type" and name:
                stype = types.get(name) or ServiceType(name)
                if "score_expr" in values:
                    stype.score_expr = values["score_expr"]
                if "score_timeout" in values:
                    stype.score_timeout = float(values["score_timeout"])
                if "score_variation_bound" in values:
                    stype.score_variation_bound = int(
                        values["score_variation_bound"])
                if "lock_at_first_register" in values:
                    stype.lock_at_first_register = _bool(
                        values["lock_at_first_register"])
                types[name] = stype
    return types
