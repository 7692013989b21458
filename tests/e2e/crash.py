#!/usr/bin/env python3
"""Issue 2 section 9: kill -9 during a delivery, then a restart.

Nothing acknowledged is lost (a message answered 250 just before the kill is in the INBOX after
the restart), nothing half-received is visible (a message whose DATA was cut by the kill is
not), and the outbound queue resumes (a message queued for a remote peer that was down is
delivered once the peer is up after the restart).

Usage: crash.py --carillon PATH
"""

import argparse
import smtplib
import socket
import ssl
import sys
import tempfile
import time
import os

from aiosmtpd.controller import Controller

from harness import (FAILURES, PASSWORD, Carillon, Collector, aws, check, fetch_all, free_port, imap_connect,
                     normalize)

MESSAGE = (b"From: Sender <sender@partner.test>\r\nTo: alice\r\nSubject: %s\r\n"
           b"Message-ID: <%s@partner.test>\r\n\r\n%s\r\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="carillon-crash-")
    peer_port = free_port()
    extra = ["--smarthost", f"127.0.0.1:{peer_port}", "--queue-retry-secs", "1"]
    server = Carillon(args.carillon, tmp, extra)
    admin = os.path.join(tmp, "admin-credentials")
    org = aws(server, admin, "workmail", "create-organization", "--alias", "acme")["OrganizationId"]
    uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", "alice",
              "--display-name", "Alice", "--password", PASSWORD)["UserId"]
    address = "alice@acme.localhost"
    aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
        "--entity-id", uid, "--email", address)

    acknowledged = MESSAGE % (b"acknowledged", b"ack", b"kept")
    mx = smtplib.SMTP(*server.addrs["smtp"])
    mx.sendmail("sender@partner.test", [address], acknowledged)
    mx.quit()

    queued = MESSAGE % (b"queued", b"queued", b"for the remote peer")
    ctx = ssl.create_default_context(cafile=os.path.join(tmp, "tls", "cert.pem"))
    sub = smtplib.SMTP(*server.addrs["submission"])
    sub.starttls(context=ctx)
    sub.login(address, PASSWORD)
    sub.sendmail(address, ["partner@remote.test"], queued)
    sub.quit()

    # A delivery cut in the middle of DATA by kill -9.
    raw = socket.create_connection(server.addrs["smtp"])
    f = raw.makefile("rb")
    f.readline()
    for cmd in (b"EHLO crash.test", b"MAIL FROM:<sender@partner.test>", f"RCPT TO:<{address}>".encode(), b"DATA"):
        raw.sendall(cmd + b"\r\n")
        line = f.readline()
        while line[3:4] == b"-":
            line = f.readline()
    check(line.startswith(b"354"), f"DATA accepted for the cut message ({line!r})")
    raw.sendall(MESSAGE % (b"cut", b"cut", b"half of a message") + b"more body without the final dot\r\n")
    time.sleep(0.3)
    server.kill()
    raw.close()

    collector = Collector()
    peer = Controller(collector, hostname="127.0.0.1", port=peer_port)
    peer.start()
    server = Carillon(args.carillon, tmp, extra)
    try:
        imap = imap_connect(server, address)
        bodies = [normalize(b) for b in fetch_all(imap, "INBOX")]
        imap.logout()
        check(normalize(acknowledged) in bodies, "the message answered 250 before kill -9 is in the INBOX")
        check(not any(b"half of a message" in b for b in bodies), "the cut message is not visible")
        check(len(bodies) == 1, f"INBOX holds exactly one message ({len(bodies)})")
        deadline = time.time() + 60
        while time.time() < deadline and not collector.messages:
            time.sleep(0.5)
        check(len(collector.messages) == 1, "the outbound queue resumed after the restart")
        if collector.messages:
            check(normalize(collector.messages[0][2]) == normalize(queued), "the queued message arrived intact")
    finally:
        server.stop()
        peer.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
