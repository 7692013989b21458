#!/usr/bin/env python3
"""Email event log and metrics end to end (issue 3 point 7, workmail.md §4.1, §4.3), driven by
clients nobody here wrote: email monitoring configured with the `aws` CLI, mail in over the MX
with smtplib (one recipient refused), mail out through submission to a stand-in remote MX
(aiosmtpd, as the smarthost), a failed IMAP login with imaplib, then the JSON lines read from
the data directory and `GET /metrics` scraped with urllib.

Checks: Describe shows what Put stored; the event log file of the default log group
(`logs/emailevents/<alias>.jsonl`) holds ORGANIZATION_EMAIL_RECEIVED, MAILBOX_EMAIL_DELIVERED,
INCOMING_EMAIL_BOUNCED, OUTGOING_EMAIL_SUBMITTED and OUTGOING_EMAIL_SENT with the guide's
fields, the outbound message's events sharing one traceId; the metrics count the same under
their Prometheus names with the organization label; after Delete no more lines are written.

Usage: monitoring.py --carillon PATH
"""

import argparse
import imaplib
import json
import os
import smtplib
import ssl
import sys
import tempfile
import time
import urllib.request

from aiosmtpd.controller import Controller

from harness import (EXTERNAL, FAILURES, PASSWORD, Carillon, Collector, aws, check, free_port,
                     imap_connect)

ALIAS = "watch"
DOMAIN = f"{ALIAS}.localhost"
ACCOUNT = "111122223333"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()
    collector = Collector()
    peer_port = free_port()
    peer = Controller(collector, hostname="127.0.0.1", port=peer_port)
    peer.start()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-monitoring-")
    server = Carillon(args.carillon, tmp, ["--smarthost", f"127.0.0.1:{peer_port}"])
    try:
        run(server, collector)
    finally:
        server.stop()
        peer.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def events(server):
    path = os.path.join(server.data_dir, "logs", "emailevents", f"{ALIAS}.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


def named(records, name):
    return [r for r in records if r.get("eventName") == name]


def wait_until(condition, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def metric(text, name, org):
    prefix = f'{name}{{organization_id="{org}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


def run(server, collector):
    admin = os.path.join(server.data_dir, "admin-credentials")
    org = aws(server, admin, "workmail", "create-organization", "--alias", ALIAS)["OrganizationId"]
    for name in ("alice", "bob"):
        uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", name,
                  "--display-name", name, "--password", PASSWORD)["UserId"]
        aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
            "--entity-id", uid, "--email", f"{name}@{DOMAIN}")

    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/workmail/emailevents/{ALIAS}:*"
    aws(server, admin, "workmail", "put-email-monitoring-configuration", "--organization-id", org,
        "--log-group-arn", group, "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/logs")
    got = aws(server, admin, "workmail", "describe-email-monitoring-configuration",
              "--organization-id", org)
    check(got.get("LogGroupArn") == group, f"describe shows the log group ({got})")

    # --- Inbound over the MX: one recipient delivered, one refused ------------------------
    inbound = (f"From: Partner <{EXTERNAL}>\r\nTo: alice@{DOMAIN}\r\nSubject: Inbound\r\n"
               "Message-ID: <in-1@remote.test>\r\n\r\nhello\r\n").encode()
    mx = smtplib.SMTP(*server.addrs["smtp"])
    refused = mx.sendmail(EXTERNAL, [f"alice@{DOMAIN}", f"nobody@{DOMAIN}"], inbound)
    mx.quit()
    check(f"nobody@{DOMAIN}" in refused, f"the unknown recipient is refused ({refused})")

    # --- Outbound through submission to the stand-in remote MX ----------------------------
    outbound = (f"From: alice@{DOMAIN}\r\nTo: {EXTERNAL}\r\nSubject: Outbound\r\n"
                f"Message-ID: <out-1@{DOMAIN}>\r\n\r\nbye\r\n").encode()
    ctx = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
    sub = smtplib.SMTP(*server.addrs["submission"])
    sub.starttls(context=ctx)
    sub.login(f"alice@{DOMAIN}", PASSWORD)
    sub.sendmail(f"alice@{DOMAIN}", [EXTERNAL, f"bob@{DOMAIN}"], outbound)
    sub.quit()
    check(wait_until(lambda: named(events(server), "OUTGOING_EMAIL_SENT")),
          "the queue runner logs OUTGOING_EMAIL_SENT once the remote MX took the message")

    # --- A failed and a successful IMAP login ---------------------------------------------
    try:
        imap_connect(server, f"alice@{DOMAIN}", password="wrong-password")
        check(False, "a wrong IMAP password is refused")
    except imaplib.IMAP4.error:
        pass
    imap_connect(server, f"alice@{DOMAIN}").logout()

    # --- The event log --------------------------------------------------------------------
    records = events(server)
    arn_suffix = f":organization/{org}"
    check(records and all(r["organizationArn"].endswith(arn_suffix) for r in records),
          "every record names the organization ARN")
    received = named(records, "ORGANIZATION_EMAIL_RECEIVED")
    check(len(received) == 2, f"one ORGANIZATION_EMAIL_RECEIVED per message ({len(received)})")
    first = received[0] if received else {}
    check(first.get("recipients") == [f"alice@{DOMAIN}"] and first.get("subject") == "Inbound"
          and first.get("messageId") == "<in-1@remote.test>" and "spfVerdict" in first,
          f"the inbound record has the guide's fields ({first})")
    delivered = [(r["recipient"], r["folder"]) for r in named(records, "MAILBOX_EMAIL_DELIVERED")]
    check(delivered == [(f"alice@{DOMAIN}", "INBOX"), (f"bob@{DOMAIN}", "INBOX")],
          f"one MAILBOX_EMAIL_DELIVERED per mailbox ({delivered})")
    bounced = named(records, "INCOMING_EMAIL_BOUNCED")
    check(len(bounced) == 1 and bounced[0]["bouncedRecipient"]["emailAddress"] == f"nobody@{DOMAIN}"
          and bounced[0]["bouncedRecipient"]["status"] == "5.1.1",
          f"the refused recipient is an INCOMING_EMAIL_BOUNCED ({bounced})")
    submitted = named(records, "OUTGOING_EMAIL_SUBMITTED")
    sent = named(records, "OUTGOING_EMAIL_SENT")
    check(len(submitted) == 1 and submitted[0]["recipients"] == [EXTERNAL, f"bob@{DOMAIN}"]
          and submitted[0]["from"] == f"alice@{DOMAIN}", f"OUTGOING_EMAIL_SUBMITTED ({submitted})")
    check(len(sent) == 1 and sent[0]["recipient"] == EXTERNAL
          and sent[0]["messageId"] == f"<out-1@{DOMAIN}>"
          and sent[0]["traceId"] == submitted[0]["traceId"] != first.get("traceId"),
          f"OUTGOING_EMAIL_SENT shares the submission's traceId ({sent})")
    check(len(collector.messages) == 1, "the remote MX got the outbound message")

    # --- Metrics --------------------------------------------------------------------------
    with urllib.request.urlopen(server.endpoint + "/metrics") as response:
        text = response.read().decode()
        check(response.headers.get("Content-Type", "").startswith("text/plain"),
              "/metrics is Prometheus text")
    expected = {
        "workmail_organization_email_received_total": 2,
        "workmail_mailbox_email_delivered_total": 2,
        "workmail_incoming_email_bounced_total": 1,
        "workmail_outgoing_email_sent_total": 1,
        "workmail_authentication_failure_sum": 1,
    }
    for name, value in expected.items():
        got = metric(text, name, org)
        check(got == value, f"{name} is {value} ({got})")
    logins = metric(text, "workmail_authentication_failure_count", org)
    check(logins is not None and logins >= 3, f"every login attempt is a sample ({logins})")
    check("AWS/WorkMail OrganizationEmailReceived" in text, "HELP names the guide metric")
    for name in ("workmail_access_denied", "workmail_action_denied",
                 "workmail_availability_provider_failure_total"):
        check(f"# TYPE {name} " in text, f"{name} is listed")

    # --- Delete: monitoring off, nothing more is written ------------------------------------
    aws(server, admin, "workmail", "delete-email-monitoring-configuration", "--organization-id", org)
    got = aws(server, admin, "workmail", "describe-email-monitoring-configuration",
              "--organization-id", org)
    check("LogGroupArn" not in got, f"describe is empty after delete ({got})")
    before = len(events(server))
    mx = smtplib.SMTP(*server.addrs["smtp"])
    mx.sendmail(EXTERNAL, [f"alice@{DOMAIN}"], inbound)
    mx.quit()
    check(len(events(server)) == before, "no event is logged once monitoring is off")


if __name__ == "__main__":
    main()
