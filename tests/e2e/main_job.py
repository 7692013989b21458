#!/usr/bin/env python3
"""The main job on real input (issue 2, section 8), driven by clients nobody here wrote.

Starts the real `carillon` binary on :0 ports in a temp dir, provisions a WorkMail
organization with the real `aws` CLI, verifies its domain through a local DNS stub (the
configurable resolver), sends every corpus message with smtplib, reads them back with imaplib
over TLS, and checks the security boundaries. An aiosmtpd server stands in as the smarthost
(the "remote MX") for the external recipient.

The comparison rule is in harness.py.

Usage: main_job.py --carillon PATH --corpus DIR [--count N]

DIR holds `.eml` files, directly or one folder down (the shared corpus has `default/` and
`lkml/`); with --count, the run first checks that there are exactly N of them.
"""

import argparse
import os
import re
import smtplib
import ssl
import sys
import tempfile
import time

import boto3
from aiosmtpd.controller import Controller
from dnslib import TXT, MX, CNAME
from dnslib.server import DNSLogger, DNSServer

from harness import (DOMAIN, EXTERNAL, FAILURES, PASSWORD, Carillon, Collector, Zone, aws, check, credentials,
                     fetch_all, free_port, imap_connect, normalize)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--count", type=int, help="the number of messages the corpus must hold")
    parser.add_argument("--database-url", help="run on this metadata database instead of SQLite")
    args = parser.parse_args()

    corpus = []
    for folder, _, names in sorted(os.walk(args.corpus)):
        for name in sorted(names):
            if name.endswith(".eml"):
                with open(os.path.join(folder, name), "rb") as f:
                    corpus.append((os.path.relpath(os.path.join(folder, name), args.corpus), f.read()))
    if args.count is not None:
        check(len(corpus) == args.count, f"corpus has {args.count} messages ({len(corpus)})")
    # The flags/MOVE/EXPUNGE steps need three messages in bob's INBOX (every fourth one).
    check(len(corpus) >= 12, f"corpus has at least 12 messages ({len(corpus)})")

    zone = Zone()
    dns = DNSServer(zone, port=0, address="127.0.0.1", logger=DNSLogger("-request,-reply,-truncated", prefix=False))
    dns.start_thread()
    dns_port = dns.server.server_address[1]

    collector = Collector()
    peer_port = free_port()
    peer = Controller(collector, hostname="127.0.0.1", port=peer_port)
    peer.start()

    tmp = tempfile.mkdtemp(prefix="carillon-e2e-")
    extra = ["--dns-resolver", f"127.0.0.1:{dns_port}", "--smarthost", f"127.0.0.1:{peer_port}"]
    server = Carillon(args.carillon, tmp, extra, database_url=args.database_url)
    try:
        run(server, zone, collector, corpus)
    finally:
        server.stop()
        peer.stop()
        dns.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def run(server, zone, collector, corpus):
    admin = os.path.join(server.data_dir, "admin-credentials")
    check(os.stat(admin).st_mode & 0o777 == 0o600, "admin-credentials has mode 0600")

    # --- Provisioning with the real aws CLI ---------------------------------------------
    org = aws(server, admin, "workmail", "create-organization", "--alias", "acme")["OrganizationId"]
    check(re.fullmatch(r"m-[0-9a-f]{32}", org) is not None, f"organization ID format {org}")
    desc = aws(server, admin, "workmail", "describe-organization", "--organization-id", org)
    check(desc["State"] == "Active", "organization is Active")
    check(desc["DefaultMailDomain"] == "acme.localhost", "test domain acme.localhost is the default")

    aws(server, admin, "workmail", "register-mail-domain", "--organization-id", org, "--domain-name", DOMAIN)
    domain = aws(server, admin, "workmail", "get-mail-domain", "--organization-id", org, "--domain-name", DOMAIN)
    check(domain["OwnershipVerificationStatus"] != "VERIFIED", "new domain is not verified before DNS says so")
    for record in domain["Records"]:
        name, value = record["Hostname"].rstrip("."), record["Value"]
        if record["Type"] == "TXT":
            # Character-strings of at most 255 bytes: the DKIM TXT records are longer.
            data = value.strip('"').encode()
            zone.add(name, "TXT", TXT([data[i:i + 255] for i in range(0, len(data), 255)]))
        elif record["Type"] == "MX":
            pref, host = value.split()
            zone.add(name, "MX", MX(host, int(pref)))
        elif record["Type"] == "CNAME":
            zone.add(name, "CNAME", CNAME(value))
    domain = aws(server, admin, "workmail", "get-mail-domain", "--organization-id", org, "--domain-name", DOMAIN)
    check(domain["OwnershipVerificationStatus"] == "VERIFIED", "domain verified through the configured resolver")

    users = {}
    for name in ("alice", "bob", "carol"):
        uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", name,
                  "--display-name", name.title(), "--password", PASSWORD)["UserId"]
        aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
            "--entity-id", uid, "--email", f"{name}@{DOMAIN}")
        users[name] = uid
    listed = aws(server, admin, "workmail", "list-users", "--organization-id", org)["Users"]
    check({u["Name"] for u in listed} >= set(users), "list-users shows alice, bob, carol")
    group = aws(server, admin, "workmail", "create-group", "--organization-id", org, "--name", "team")["GroupId"]
    aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
        "--entity-id", group, "--email", f"team@{DOMAIN}")
    for member in ("bob", "carol"):
        aws(server, admin, "workmail", "associate-member-to-group", "--organization-id", org,
            "--group-id", group, "--member-id", users[member])
    aws(server, admin, "workmail", "create-alias", "--organization-id", org, "--entity-id", users["alice"],
        "--alias", f"sales@{DOMAIN}")
    members = aws(server, admin, "workmail", "list-group-members", "--organization-id", org, "--group-id", group)
    check({m["Name"] for m in members["Members"]} == {"bob", "carol"}, "team has bob and carol")

    # --- Mail in over SMTP --------------------------------------------------------------
    targets = [f"alice@{DOMAIN}", f"sales@{DOMAIN}", f"team@{DOMAIN}", EXTERNAL]
    expected = {"alice": [], "bob": [], "carol": [], "external": [], "alice-sent": []}
    mx = smtplib.SMTP(*server.addrs["smtp"])
    mx.ehlo("e2e.test")
    ctx = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
    sub = smtplib.SMTP(*server.addrs["submission"])
    sub.starttls(context=ctx)
    sub.login(f"alice@{DOMAIN}", PASSWORD)
    for i, (name, raw) in enumerate(corpus):
        rcpt = targets[i % 4]
        wire = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        src = normalize(raw)
        if rcpt == EXTERNAL:
            sub.sendmail(f"alice@{DOMAIN}", [rcpt], wire, mail_options=["BODY=8BITMIME"])
            expected["external"].append(src)
            expected["alice-sent"].append(src)
        else:
            mx.sendmail("list@lists.example.org", [rcpt], wire, mail_options=["BODY=8BITMIME"])
            if rcpt == f"team@{DOMAIN}":
                expected["bob"].append(src)
                expected["carol"].append(src)
            else:
                expected["alice"].append(src)
    check(True, f"{len(corpus)} messages accepted with 250")

    try:
        mx.sendmail("list@lists.example.org", [f"nobody@{DOMAIN}"], b"Subject: x\r\n\r\nx\r\n")
        check(False, "unknown recipient refused")
    except smtplib.SMTPRecipientsRefused as e:
        code = list(e.recipients.values())[0][0]
        check(code == 550, f"unknown recipient gets 550 ({code})")
    try:
        mx.sendmail("spammer@evil.test", ["victim@elsewhere.test"], b"Subject: relay\r\n\r\nx\r\n")
        check(False, "unauthenticated relay refused")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        check(code >= 500 and b"5.7.1" in text, f"unauthenticated relay refused 5.7.1 ({code} {text!r})")
    mx.quit()
    sub.quit()

    # --- Mail out through IMAP over TLS -------------------------------------------------
    for user, folder, key in (("alice", "INBOX", "alice"), ("bob", "INBOX", "bob"),
                              ("carol", "INBOX", "carol"), ("alice", "Sent Items", "alice-sent")):
        imap = imap_connect(server, f"{user}@{DOMAIN}")
        got = sorted(normalize(b) for b in fetch_all(imap, folder))
        want = sorted(expected[key])
        check(len(got) == len(want), f"{user} {folder} holds {len(want)} messages ({len(got)})")
        check(got == want, f"{user} {folder}: every message identical to its source")
        imap.logout()

    deadline = time.time() + 90
    while time.time() < deadline and len(collector.messages) < len(expected["external"]):
        time.sleep(0.5)
    ext = sorted(normalize(m[2]) for m in collector.messages)
    check(len(ext) == len(expected["external"]), f"external peer got {len(expected['external'])} messages ({len(ext)})")
    check(ext == sorted(expected["external"]), "external messages identical to their sources")

    # Flags, MOVE, EXPUNGE on bob's INBOX.
    imap = imap_connect(server, f"bob@{DOMAIN}")
    typ, data = imap.select("INBOX")
    total = int(data[0])
    typ, data = imap.uid("SEARCH", None, "ALL")
    uids = data[0].split()
    imap.uid("STORE", uids[0], "+FLAGS", r"(\Flagged \Seen)")
    typ, data = imap.uid("FETCH", uids[0], "(FLAGS)")
    check(b"\\Flagged" in data[0] and b"\\Seen" in data[0], "flags set and read back")
    typ, data = imap.uid("MOVE", uids[1], '"Deleted Items"')
    check(typ == "OK", "MOVE to Deleted Items")
    imap.uid("STORE", uids[2], "+FLAGS", r"(\Deleted)")
    typ, _ = imap.expunge()
    check(typ == "OK", "EXPUNGE")
    typ, data = imap.select("INBOX")
    check(int(data[0]) == total - 2, f"INBOX went from {total} to {total - 2} ({int(data[0])})")
    typ, data = imap.select('"Deleted Items"')
    check(int(data[0]) == 1, "Deleted Items holds the moved message")
    imap.logout()
    imap = imap_connect(server, f"bob@{DOMAIN}")
    typ, data = imap.select("INBOX")
    typ, data = imap.uid("FETCH", uids[0], "(FLAGS)")
    check(b"\\Flagged" in data[0], "flags persist across sessions")
    imap.logout()

    details = aws(server, admin, "workmail", "get-mailbox-details", "--organization-id", org, "--user-id", users["alice"])
    check(details["MailboxSize"] > 0, f"GetMailboxDetails reports a size ({details['MailboxSize']} MB)")

    # --- Security boundaries ------------------------------------------------------------
    other = os.path.join(server.data_dir, "other-credentials")
    server.cli("accounts", "create", "--name", "other", "--credentials-out", other)
    err = aws(server, other, "workmail", "describe-organization", "--organization-id", org, expect_error=True)
    check("OrganizationNotFoundException" in err or "AccessDeniedException" in err,
          f"another account cannot see acme ({err.strip()[:120]})")
    listed = aws(server, other, "workmail", "list-organizations")["OrganizationSummaries"]
    check(all(o["OrganizationId"] != org for o in listed), "another account does not list acme")

    readonly = os.path.join(server.data_dir, "readonly-credentials")
    server.cli("keys", "create", "--policy", "AmazonWorkMailReadOnlyAccess", "--credentials-out", readonly)
    aws(server, readonly, "workmail", "list-users", "--organization-id", org)
    err = aws(server, readonly, "workmail", "create-user", "--organization-id", org, "--name", "mallory",
              "--display-name", "Mallory", "--password", PASSWORD, expect_error=True)
    check("AccessDeniedException" in err, "read-only key refused CreateUser with AccessDeniedException")

    bad = os.path.join(server.data_dir, "bad-credentials")
    with open(admin) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(re.sub(r"(aws_secret_access_key\s*=\s*)\S+", r"\1" + "x" * 40, text))
    err = aws(server, bad, "workmail", "list-organizations", expect_error=True)
    check("InvalidSignatureException" in err or "SignatureDoesNotMatch" in err,
          f"wrong signature refused ({err.strip()[:120]})")

    # --- boto3 ---------------------------------------------------------------------------
    session = boto3.session.Session()
    key, secret = credentials(admin)
    client = session.client("workmail", region_name="us-east-1", endpoint_url=server.endpoint,
                            aws_access_key_id=key, aws_secret_access_key=secret)
    orgs = client.list_organizations()["OrganizationSummaries"]
    check(any(o["OrganizationId"] == org for o in orgs), "boto3 list_organizations")
    check(client.describe_organization(OrganizationId=org)["Alias"] == "acme", "boto3 describe_organization")
    groups = client.list_groups(OrganizationId=org)["Groups"]
    check(any(g["Name"] == "team" for g in groups), "boto3 list_groups")
    try:
        client.create_alias(OrganizationId=org, EntityId=users["bob"], Alias=f"sales@{DOMAIN}")
        check(False, "boto3 duplicate alias refused")
    except client.exceptions.EmailAddressInUseException:
        check(True, "boto3 duplicate alias refused with EmailAddressInUseException")


if __name__ == "__main__":
    main()
