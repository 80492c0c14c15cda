"""Settings of the oio-proxy, from the `[proxy]` section of its INI file."""

from __future__ import annotations

from dataclasses import dataclass, field

from oio.common.configuration import Config, read_conf
from oio.common.exceptions import ConfigurationException


def _addresses(value: str | None) -> list[str]:
    return [a.strip() for a in (value or "").split(",") if a.strip()]


@dataclass
class ProxyConfig:
    """Typed proxy settings; durations in seconds."""

    namespace: str
    conscience: list[str]
    bind_addr: str = "127.0.0.1"
    bind_port: int = 6000
    log_level: str = "INFO"
    # Optional: meta0 addresses; by default taken from the conscience.
    meta0: list[str] = field(default_factory=list)
    # How often the local load balancer is reloaded from the conscience.
    lb_refresh_interval: float = 1.0
    # conscience/list, info, resolve, score answers.
    cache_conscience_ttl: float = 1.0
    # (cid, type) -> linked services ("low" cache).
    cache_dir_ttl: float = 60.0
    cache_dir_max: int = 100_000
    # Negative answers: the reference does not exist.
    cache_dir_negative_ttl: float = 1.0
    # Keys of services seen recently (for tag.1 on first registration).
    known_services_ttl: float = 300.0
    local_services_ttl: float = 30.0
    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    # container/destroy also destroys the reference (upstream keeps it).
    destroy_reference: bool = False
    bulk_max_create_many: int = 100
    bulk_max_delete_many: int = 100
    # Replicated bases: how long a request waits for a master to be elected,
    # and how long the master of a base is remembered.
    election_retry: float = 15.0
    master_ttl: float = 1800.0

    @classmethod
    def from_dict(cls, values: dict) -> ProxyConfig:
        conf = Config(values)
        namespace = conf.get_str("namespace")
        if not namespace:
            raise ConfigurationException("[proxy] needs 'namespace'")
        conscience = _addresses(conf.get_str("conscience"))
        if not conscience:
            raise ConfigurationException(
                "[proxy] needs 'conscience' (comma-separated IP:PORT)")
        d = cls(namespace=namespace, conscience=conscience)
        return cls(
            namespace=namespace,
            conscience=conscience,
            bind_addr=conf.get_str("bind_addr", d.bind_addr),
            bind_port=conf.get_int("bind_port", d.bind_port),
            log_level=conf.get_str("log_level", d.log_level),
            meta0=_addresses(conf.get_str("meta0")),
            lb_refresh_interval=conf.get_duration(
                "lb_refresh_interval", d.lb_refresh_interval),
            cache_conscience_ttl=conf.get_duration(
                "cache_conscience_ttl", d.cache_conscience_ttl),
            cache_dir_ttl=conf.get_duration("cache_dir_ttl", d.cache_dir_ttl),
            cache_dir_max=conf.get_int("cache_dir_max", d.cache_dir_max),
            cache_dir_negative_ttl=conf.get_duration(
                "cache_dir_negative_ttl", d.cache_dir_negative_ttl),
            known_services_ttl=conf.get_duration(
                "known_services_ttl", d.known_services_ttl),
            local_services_ttl=conf.get_duration(
                "local_services_ttl", d.local_services_ttl),
            connect_timeout=conf.get_duration(
                "connect_timeout", d.connect_timeout),
            read_timeout=conf.get_duration("read_timeout", d.read_timeout),
            destroy_reference=conf.get_bool(
                "destroy_reference", d.destroy_reference),
            bulk_max_create_many=conf.get_int(
                "bulk_max_create_many", d.bulk_max_create_many),
            bulk_max_delete_many=conf.get_int(
                "bulk_max_delete_many", d.bulk_max_delete_many),
            election_retry=conf.get_duration(
                "election_retry", d.election_retry),
            master_ttl=conf.get_duration("master_ttl", d.master_ttl),
        )

    @classmethod
    def from_file(cls, path: str) -> ProxyConfig:
        return cls.from_dict(read_conf(path, "proxy"))
