"""A stand-in for oio.conscience.policies.NamespaceInfo in meta2 unit tests."""

from dataclasses import dataclass, field


class FakePolicyNotSupported(ValueError):
    pass


@dataclass
class FakeSecurity:
    kind: str
    params: dict = field(default_factory=dict)


@dataclass
class FakePolicy:
    name: str
    data_security: FakeSecurity

    def nb_chunks(self) -> int:
        p = self.data_security.params
        if self.data_security.kind == "ec":
            return int(p.get("k", 6)) + int(p.get("m", 4))
        return int(p.get("nb_copy", 1))

    def chunk_method(self) -> str:
        p = self.data_security.params
        if self.data_security.kind == "ec":
            return f"ec/algo={p['algo']},k={p['k']},m={p['m']}"
        return f"plain/nb_copy={p.get('nb_copy', 1)}"


class FakeNsInfo:
    name = "OPENIO"
    chunk_size = 1024 * 1024

    def __init__(self, **options):
        self.options = {"storage_policy": "SINGLE", **options}
        self.policies = {
            "NONE": FakePolicy("NONE", FakeSecurity("plain", {"nb_copy": 1})),
            "SINGLE": FakePolicy("SINGLE", FakeSecurity("plain", {"nb_copy": 1})),
            "THREECOPIES": FakePolicy(
                "THREECOPIES", FakeSecurity("plain", {"nb_copy": 3})),
            "EC21": FakePolicy("EC21", FakeSecurity(
                "ec", {"k": 2, "m": 1, "algo": "liberasurecode_rs_vand"})),
        }

    def get_policy(self, name):
        if not name or name.upper() == "NONE":
            name = self.options.get("storage_policy") or "NONE"
        try:
            return self.policies[name]
        except KeyError:
            raise FakePolicyNotSupported(name) from None
