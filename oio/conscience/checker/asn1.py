"""`asn1` check: the gridd binary ping of 7.2's meta services."""

from __future__ import annotations

import socket

from oio.conscience.checker.tcp import TcpChecker

# The framed "REQ_PING" request of 7.2 (a length-prefixed ASN.1 message).
ASN1_PING = (bytes.fromhex("00000030302E8020")
             + b"80863FD712DC4234D7BA684CE2DEC00A"
             + bytes.fromhex("8108") + b"REQ_PING" + bytes.fromhex("A300"))


class Asn1PingChecker(TcpChecker):
    """Connect, send the ping, read up to 1 KiB without error."""

    checker_type = "asn1"
    asn1_ping_req = ASN1_PING

    def _communicate(self, sock: socket.socket) -> None:
        sock.sendall(self.asn1_ping_req)
        sock.recv(1024)
