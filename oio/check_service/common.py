"""A round trip of real requests on every service of a type, each service
printed as `TYPE <addr> OK` or `TYPE <addr> FAIL` (healing.md §5)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LOGGER = logging.getLogger("oio.check_service")


class CheckFailed(Exception):
    """One step of a cycle did not get the answer it expects."""


def expect(step: str, status: int, wanted: int) -> None:
    if status != wanted:
        raise CheckFailed(f"{step}: status {status}, expected {wanted}")


class CheckService:
    """Runs `cycle(addr)` on every registered service of `service_type`."""

    service_type = ""

    def __init__(self, namespace: str, conscience=None):
        from oio.conscience.client import ConscienceClient

        self.ns = namespace
        self.conscience = conscience or ConscienceClient({"namespace":
                                                          namespace})

    def hosts(self) -> list[str]:
        return [srv["addr"] for srv in
                self.conscience.all_services(self.service_type)]

    def cycle(self, addr: str) -> None:
        """Raise (CheckFailed or anything) unless the service works."""
        raise NotImplementedError

    def run(self, out: TextIO = sys.stdout) -> bool:
        """Check every service; whether all of them passed."""
        success = True
        for addr in self.hosts():
            try:
                self.cycle(addr)
                verdict = "OK"
            except Exception as err:  # noqa: BLE001 - a FAIL, with why
                LOGGER.error("%s %s: %s: %s", self.service_type, addr,
                             type(err).__name__, err)
                verdict = "FAIL"
                success = False
            print(f"{self.service_type.upper()} {addr} {verdict}", file=out,
                  flush=True)
        return success
