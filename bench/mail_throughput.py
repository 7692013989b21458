#!/usr/bin/env python3
"""Mail throughput: Carillon beside Dovecot, in the same run, on the same real messages.

What is measured (wall clock, loopback, one client connection each):
  1. delivery — every corpus message (repeated --rounds times) handed to the server one
     transaction at a time and acknowledged: Carillon's MX over SMTP (SPF/DKIM/DMARC through a
     local DNS stub, blob sealed under its message key and fsync'd, metadata committed before
     250) against Dovecot's LMTP (maildir, mail_fsync=always so both acknowledge durable mail);
  2. fetch — IMAP over TLS (both with Carillon's self-signed certificate): LOGIN, then SELECT
     INBOX and UID FETCH 1:* BODY.PEEK[] of everything delivered, timed apart.
Reported: messages/s and MB/s of each, and the ratio Carillon/Dovecot (above 1: Carillon faster).

Needs: a release build of carillon (`cargo build --release`), Debian's dovecot-imapd and
dovecot-lmtpd, and the tests' Python environment (.venv: dnslib, awscli).

Usage: bench/mail_throughput.py --carillon target/release/carillon --corpus ../shared/corpora/mail
       [--rounds 4]
"""

import argparse
import imaplib
import os
import pwd
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from dnslib.server import DNSLogger, DNSServer  # noqa: E402

from harness import PASSWORD, Carillon, Zone, aws, free_port  # noqa: E402

RECIPIENT = "bench@bench.localhost"
SENDER = "sender@remote.test"


def corpus(folder):
    messages = []
    for sub in sorted(os.listdir(folder)):
        path = os.path.join(folder, sub)
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith(".eml"):
                    with open(os.path.join(path, name), "rb") as f:
                        messages.append(f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    return messages


def deliver(client, messages):
    start = time.perf_counter()
    for message in messages:
        refused = client.sendmail(SENDER, [RECIPIENT], message)
        if refused:
            raise RuntimeError(f"refused: {refused}")
    return time.perf_counter() - start


def fetch(imap, expected):
    """Seconds of SELECT INBOX and of the FETCH of every body, and the bytes fetched."""
    start = time.perf_counter()
    imap.select("INBOX")
    selected = time.perf_counter()
    status, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
    done = time.perf_counter()
    got = [part for part in data if isinstance(part, tuple)]
    if status != "OK" or len(got) != expected:
        raise RuntimeError(f"fetched {len(got)} of {expected} ({status})")
    return selected - start, done - selected, sum(len(p[1]) for p in got)


def run_carillon(binary, messages, tmp):
    zone = Zone()
    dns = DNSServer(zone, port=0, address="127.0.0.1",
                    logger=DNSLogger("-request,-reply,-truncated", prefix=False))
    dns.start_thread()
    server = Carillon(binary, os.path.join(tmp, "carillon"),
                      ["--dns-resolver", f"127.0.0.1:{dns.server.server_address[1]}"])
    try:
        admin = os.path.join(server.data_dir, "admin-credentials")
        org = aws(server, admin, "workmail", "create-organization", "--alias", "bench")["OrganizationId"]
        uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", "bench",
                  "--display-name", "Bench", "--password", PASSWORD)["UserId"]
        aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
            "--entity-id", uid, "--email", RECIPIENT)
        smtp = smtplib.SMTP(*server.addrs["smtp"])
        delivery = deliver(smtp, messages)
        smtp.quit()
        ctx = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
        imap = imaplib.IMAP4_SSL(*server.addrs["imaps"], ssl_context=ctx)
        imap.login(RECIPIENT, PASSWORD)
        select, fetched, size = fetch(imap, len(messages))
        imap.logout()
        return delivery, select, fetched, size, os.path.join(server.data_dir, "tls")
    finally:
        server.stop()
        dns.stop()


DOVECOT_CONF = """
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = required
ssl_cert = <{tls}/cert.pem
ssl_key = <{tls}/key.pem
auth_mechanisms = plain
mail_location = maildir:{tmp}/mail/%n
mail_fsync = always
first_valid_uid = 1
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={tmp}/home/%n
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
"""


def run_dovecot(messages, tmp, tls):
    user = pwd.getpwnam("dovecot")
    for sub in ("run", "state", "mail", "home"):
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
    for sub in ("mail", "home"):
        shutil.chown(os.path.join(tmp, sub), user.pw_uid, user.pw_gid)
    imaps, lmtp = free_port(), free_port()
    conf = os.path.join(tmp, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(DOVECOT_CONF.format(tmp=tmp, tls=tls, password=PASSWORD, uid=user.pw_uid,
                                    gid=user.pw_gid, imaps=imaps, lmtp=lmtp))
    proc = subprocess.Popen(["dovecot", "-F", "-c", conf])
    log = os.path.join(tmp, "dovecot.log")
    try:
        deadline = time.time() + 30
        while True:
            try:
                client = smtplib.LMTP("127.0.0.1", lmtp)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        delivery = deliver(client, messages)
        client.quit()
        ctx = ssl.create_default_context(cafile=os.path.join(tls, "cert.pem"))
        ctx.check_hostname = False
        imap = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=ctx)
        imap.login(RECIPIENT, PASSWORD)
        select, fetched, size = fetch(imap, len(messages))
        imap.logout()
        return delivery, select, fetched, size
    except Exception:
        if os.path.exists(log):
            with open(log) as f:
                sys.stderr.write(f.read()[-4000:])
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    messages = corpus(args.corpus) * args.rounds
    megabytes = sum(len(m) for m in messages) / 1e6
    tmp = tempfile.mkdtemp(prefix="carillon-bench-")
    # Dovecot's mail processes run as the dovecot user and must reach their directories.
    os.chmod(tmp, 0o755)
    try:
        c_delivery, c_select, c_fetch, c_size, tls = run_carillon(args.carillon, messages, tmp)
        d_delivery, d_select, d_fetch, d_size = run_dovecot(messages, os.path.join(tmp, "dovecot"), tls)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(messages)
    print(f"{n} messages, {megabytes:.1f} MB (corpus x {args.rounds})")
    print(f"{'':24}{'Carillon':>14}{'Dovecot':>14}{'ratio':>8}")
    rows = [
        ("delivery (msg/s)", n / c_delivery, n / d_delivery),
        ("IMAP SELECT (per s)", 1 / c_select, 1 / d_select),
        ("IMAP FETCH (MB/s)", c_size / 1e6 / c_fetch, d_size / 1e6 / d_fetch),
    ]
    for name, carillon, dovecot in rows:
        print(f"{name:24}{carillon:14.1f}{dovecot:14.1f}{carillon / dovecot:8.2f}")


if __name__ == "__main__":
    main()
