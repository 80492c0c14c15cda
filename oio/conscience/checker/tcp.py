"""`tcp` check: the service accepts a connection."""

from __future__ import annotations

import socket

from oio.conscience.checker.base import BaseChecker


class TcpChecker(BaseChecker):
    checker_type = "tcp"

    def _configure(self) -> None:
        self.addr = (self.host, self.port)

    def _communicate(self, sock: socket.socket) -> None:
        """What to do on the connected socket (nothing: connecting is the
        check)."""

    def _check(self) -> bool:
        try:
            with socket.create_connection(self.addr,
                                          timeout=self.timeout) as sock:
                self._communicate(sock)
        except OSError as exc:
            if self.last_check_success:   # once, not every round
                self.logger.warning("%s check of %s:%d failed: %s",
                                    self.checker_type, self.host, self.port,
                                    exc)
            self.last_check_success = False
            return False
        self.last_check_success = True
        return True
