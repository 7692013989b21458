#!/usr/bin/env python3
"""Journaling end to end (issue 3 point 5, workmail.md §2.24), driven by clients nobody here
wrote: the organization and its users through the `aws` CLI, the journaling configuration
through Carillon's own admin API (SigV4 service `carillon`, signed by botocore and by
`curl --aws-sigv4`), mail in with smtplib (MX and submission), the journal mailbox read
with imaplib. An aiosmtpd server stands in as the smarthost for the external recipient.

Checks: the OpenAPI document lists the journaling operations and is the only unauthenticated
route; unsigned, wrongly scoped and cross-tenant calls are refused in the restJson1 error
style; one journal record per message (group fan-out, Cc, Bcc, external recipient) in the
Exchange envelope-journal format with the original attached unaltered; journal records are
not journaled; the reserved sender cannot be taken; deleting the configuration stops it.

Usage: journaling.py --carillon PATH
"""

import argparse
import email
import email.policy
import json
import os
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

from aiosmtpd.controller import Controller

from harness import (EXTERNAL, FAILURES, PASSWORD, Carillon, Collector, aws, carillon_call, check, credentials,
                     fetch_all, free_port, imap_connect, normalize, send)

ALIAS = "journo"
DOMAIN = f"{ALIAS}.localhost"
REGION = "us-east-1"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()

    collector = Collector()
    peer_port = free_port()
    peer = Controller(collector, hostname="127.0.0.1", port=peer_port)
    peer.start()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-journal-")
    server = Carillon(args.carillon, tmp, ["--smarthost", f"127.0.0.1:{peer_port}"])
    try:
        run(server, collector)
    finally:
        server.stop()
        peer.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def attached_original(record: bytes) -> bytes:
    """The raw bytes of a journal record's message/rfc822 part (up to its closing boundary)."""
    marker = b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
    boundary = record.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    start = record.index(marker) + len(marker)
    end = record.rindex(b"--" + boundary + b"--")
    return record[start:end]


def run(server, collector):
    admin = os.path.join(server.data_dir, "admin-credentials")

    # --- The organization with the aws CLI ---------------------------------------------
    org = aws(server, admin, "workmail", "create-organization", "--alias", ALIAS)["OrganizationId"]
    users = {}
    for name in ("alice", "bob", "carol", "journal", "admin"):
        uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", name,
                  "--display-name", name.title(), "--password", PASSWORD)["UserId"]
        aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
            "--entity-id", uid, "--email", f"{name}@{DOMAIN}")
        users[name] = uid
    group = aws(server, admin, "workmail", "create-group", "--organization-id", org, "--name", "team")["GroupId"]
    aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
        "--entity-id", group, "--email", f"team@{DOMAIN}")
    for member in ("bob", "carol"):
        aws(server, admin, "workmail", "associate-member-to-group", "--organization-id", org,
            "--group-id", group, "--member-id", users[member])
    err = aws(server, admin, "workmail", "create-alias", "--organization-id", org, "--entity-id", users["alice"],
              "--alias", f"amazonjournaling@{DOMAIN}", expect_error=True)
    check("EmailAddressInUseException" in err, "the reserved journal sender cannot become an alias")

    # --- Carillon's admin API -----------------------------------------------------------
    status, _, doc = send("GET", server.endpoint + "/carillon/v1/openapi.json")
    check(status == 200 and doc.get("openapi", "").startswith("3."), "OpenAPI document served unauthenticated")
    ops = {op["operationId"]: op for path in doc.get("paths", {}).values() for op in path.values()}
    for name in ("PutJournalingConfiguration", "GetJournalingConfiguration", "DeleteJournalingConfiguration"):
        check(name in ops, f"OpenAPI document lists {name}")
    body_ref = ops["PutJournalingConfiguration"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body_schema = doc["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    check(set(body_schema["required"]) == {"JournalingEmailAddress", "ReportEmailAddress"},
          "PutJournalingConfiguration body schema names its required members")

    path = f"/carillon/v1/organizations/{org}/journaling-configuration"
    config = {"JournalingEmailAddress": f"journal@{DOMAIN}", "ReportEmailAddress": f"admin@{DOMAIN}"}
    status, headers, body = send("PUT", server.endpoint + path, json.dumps(config).encode(),
                                 {"Content-Type": "application/json"})
    check(status == 403 and headers.get("x-amzn-ErrorType") == "MissingAuthenticationTokenException",
          f"unsigned call refused ({status} {body})")
    status, headers, body = carillon_call(server, admin, "PUT", path, config, service="workmail")
    check(status == 403 and body.get("Code") == "InvalidSignatureException",
          f"a signature for service workmail is refused ({status} {body})")
    status, headers, body = carillon_call(server, admin, "PUT", path,
                                          {"JournalingEmailAddress": "not-an-address",
                                           "ReportEmailAddress": f"admin@{DOMAIN}"})
    check(status == 400 and body.get("Code") == "ValidationException"
          and "'JournalingEmailAddress'" in body.get("Message", ""),
          f"validation names the member ({status} {body})")
    check(bool(headers.get("x-amzn-RequestId")), "errors carry x-amzn-RequestId")

    other = os.path.join(server.data_dir, "other-credentials")
    server.cli("accounts", "create", "--name", "other", "--credentials-out", other)
    status, _, body = carillon_call(server, other, "PUT", path, config)
    check(status == 400 and body.get("Code") == "OrganizationNotFoundException",
          f"another account's organization is not found ({status} {body})")

    status, _, body = carillon_call(server, admin, "PUT", path, config)
    check(status == 200, f"PutJournalingConfiguration ({status} {body})")
    key, secret = credentials(admin)
    out = subprocess.run(["curl", "-sS", "--aws-sigv4", f"aws:amz:{REGION}:carillon", "--user", f"{key}:{secret}",
                          server.endpoint + path], capture_output=True, text=True)
    got = json.loads(out.stdout or "{}")
    check(got.get("JournalingEmailAddress") == f"journal@{DOMAIN}"
          and got.get("JournalSenderAddress") == f"amazonjournaling@{DOMAIN}",
          f"curl --aws-sigv4 reads the configuration back ({out.stdout[:200]} {out.stderr[:200]})")

    # --- Mail: inbound with a group fan-out, then a submission --------------------------
    inbound = (f"From: Partner <partner@remote.test>\r\nTo: team@{DOMAIN}, bob@{DOMAIN}\r\n"
               f"Cc: alice@{DOMAIN}\r\nSubject: Inbound plans\r\nMessage-ID: <in-1@remote.test>\r\n\r\n"
               "Inbound body.\r\n").encode()
    mx = smtplib.SMTP(*server.addrs["smtp"])
    mx.sendmail("partner@remote.test", [f"team@{DOMAIN}", f"bob@{DOMAIN}", f"alice@{DOMAIN}"], inbound)
    mx.quit()

    outbound = (f"From: alice@{DOMAIN}\r\nTo: {EXTERNAL}\r\nCc: team@{DOMAIN}\r\nSubject: Outbound news\r\n"
                "Message-ID: <out-1@journo.localhost>\r\n\r\nOutbound body.\r\n").encode()
    ctx = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
    sub = smtplib.SMTP(*server.addrs["submission"])
    sub.starttls(context=ctx)
    sub.login(f"alice@{DOMAIN}", PASSWORD)
    sub.sendmail(f"alice@{DOMAIN}", [EXTERNAL, f"team@{DOMAIN}", f"carol@{DOMAIN}"], outbound)
    sub.quit()

    imap = imap_connect(server, f"journal@{DOMAIN}")
    records = fetch_all(imap, "INBOX")
    imap.logout()
    check(len(records) == 2, f"two messages, two journal records ({len(records)})")
    parsed = [email.message_from_bytes(r, policy=email.policy.default) for r in records]
    by_subject = {m["Subject"]: m for m in parsed}
    raw_by_subject = {m["Subject"]: r for m, r in zip(parsed, records)}
    for subject, original, lines in (
        ("Inbound plans", inbound, [
            "Sender: partner@remote.test", "Subject: Inbound plans", "Message-Id: <in-1@remote.test>",
            f"To: bob@{DOMAIN}, Expanded: team@{DOMAIN}", f"To: carol@{DOMAIN}, Expanded: team@{DOMAIN}",
            f"To: bob@{DOMAIN}", f"Cc: alice@{DOMAIN}"]),
        ("Outbound news", outbound, [
            f"Sender: alice@{DOMAIN}", "Subject: Outbound news", "Message-Id: <out-1@journo.localhost>",
            f"To: {EXTERNAL}", f"Cc: bob@{DOMAIN}, Expanded: team@{DOMAIN}",
            f"Cc: carol@{DOMAIN}, Expanded: team@{DOMAIN}", f"Bcc: carol@{DOMAIN}"]),
    ):
        record = by_subject.get(subject)
        check(record is not None, f"journal record for {subject!r}")
        if record is None:
            continue
        check(record["From"] == f"amazonjournaling@{DOMAIN}" or f"<amazonjournaling@{DOMAIN}>" in str(record["From"]),
              f"{subject!r}: from the reserved sender ({record['From']})")
        check("X-MS-Journal-Report" in record, f"{subject!r}: X-MS-Journal-Report header")
        parts = list(record.iter_parts())
        check(len(parts) == 2, f"{subject!r}: report part and original")
        report = parts[0].get_content().replace("\r\n", "\n").strip().split("\n")
        check(report == lines, f"{subject!r}: report lines {report}")
        check(parts[1].get_content_type() == "message/rfc822", f"{subject!r}: original attached as message/rfc822")
        check(normalize(attached_original(raw_by_subject[subject])) == normalize(original),
              f"{subject!r}: the attached original is the message as sent (trace headers aside)")

    deadline = time.time() + 60
    while time.time() < deadline and not collector.messages:
        time.sleep(0.5)
    check(len(collector.messages) == 1 and collector.messages[0][1] == [EXTERNAL],
          f"the external recipient got the message, and no journal record left ({len(collector.messages)})")

    # --- Turning journaling off ------------------------------------------------------------
    status, _, body = carillon_call(server, admin, "DELETE", path)
    check(status == 200, f"DeleteJournalingConfiguration ({status} {body})")
    status, _, body = carillon_call(server, admin, "GET", path)
    check(status == 400 and body.get("Code") == "ResourceNotFoundException",
          f"configuration gone ({status} {body})")
    mx = smtplib.SMTP(*server.addrs["smtp"])
    mx.sendmail("partner@remote.test", [f"bob@{DOMAIN}"], b"Subject: after\r\n\r\nx\r\n")
    mx.quit()
    imap = imap_connect(server, f"journal@{DOMAIN}")
    check(len(fetch_all(imap, "INBOX")) == 2, "no journal record once journaling is off")
    imap.logout()
    imap = imap_connect(server, f"bob@{DOMAIN}")
    check(len(fetch_all(imap, "INBOX")) == 3, "bob got all three messages")
    imap.logout()


if __name__ == "__main__":
    main()
