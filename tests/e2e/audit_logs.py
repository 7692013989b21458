#!/usr/bin/env python3
"""Audit logs end to end (issue 3 point 7, workmail.md §4.2, §5.4), driven by clients nobody
here wrote: deliveries configured through Carillon's admin API (signed by botocore), logins and
mailbox operations with imaplib, a submission with smtplib, and an HTTP sink written with the
standard library's http.server.

Checks: AUTHENTICATION_LOGS and WORKMAIL_MAILBOX_ACCESS_LOGS as JSON lines under
`logs/audit/<organization>/`, ACCESS_CONTROL_LOGS POSTed to the HTTP sink, each record with the
guide's common fields and its type's fields; every IMAP operation gives its action; bad
deliveries are refused naming the field; after Delete nothing more is written.

Usage: audit_logs.py --carillon PATH
"""

import argparse
import http.server
import imaplib
import json
import os
import smtplib
import ssl
import sys
import tempfile
import threading
import time

from harness import (EXTERNAL, FAILURES, PASSWORD, Carillon, aws, carillon_call, check, imap_connect,
                     send)

ALIAS = "audited"
DOMAIN = f"{ALIAS}.localhost"


class Sink(http.server.BaseHTTPRequestHandler):
    """The HTTP sink: keeps every POST (headers and JSON lines)."""
    posts = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Sink.posts.append(({k.lower(): v for k, v in self.headers.items()}, [json.loads(l) for l in body.splitlines() if l]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-audit-")
    server = Carillon(args.carillon, tmp, [])
    try:
        run(server, f"http://127.0.0.1:{sink.server_address[1]}/audit")
    finally:
        server.stop()
        sink.shutdown()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def lines(server, org, log_type):
    path = os.path.join(server.data_dir, "logs", "audit", org, f"{log_type}.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


def wait_until(condition, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def run(server, sink_url):
    admin = os.path.join(server.data_dir, "admin-credentials")
    org = aws(server, admin, "workmail", "create-organization", "--alias", ALIAS)["OrganizationId"]
    users = {}
    for name in ("alice", "bob"):
        uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", name,
                  "--display-name", name, "--password", PASSWORD)["UserId"]
        aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
            "--entity-id", uid, "--email", f"{name}@{DOMAIN}")
        users[name] = uid

    # --- The operations are in the OpenAPI document ---------------------------------------
    status, _, doc = send("GET", server.endpoint + "/carillon/v1/openapi.json")
    ops = {op["operationId"] for path in doc.get("paths", {}).values() for op in path.values()}
    for name in ("PutAuditLogDelivery", "ListAuditLogDeliveries", "DeleteAuditLogDelivery"):
        check(name in ops, f"OpenAPI document lists {name}")

    # --- Deliveries, and bad ones refused -------------------------------------------------
    base = f"/carillon/v1/organizations/{org}/audit-log-deliveries"

    def put(log_type, body):
        return carillon_call(server, admin, "PUT", f"{base}/{log_type}", body)

    for log_type, body, field in [
        ("AUTHENTICATION_LOGS", {"DestinationType": "HTTP"}, "Endpoint"),
        ("AUTHENTICATION_LOGS", {"DestinationType": "HTTP", "Endpoint": "http://logs.example.test/"},
         "Endpoint"),
        ("AUTHENTICATION_LOGS", {"DestinationType": "FILE", "Endpoint": sink_url}, "Endpoint"),
        ("AUTHENTICATION_LOGS", {"DestinationType": "SYSLOG"}, "enum value set: [FILE, HTTP]"),
        ("EVERYTHING_LOGS", {"DestinationType": "FILE"}, "LogType"),
    ]:
        status, _, error = put(log_type, body)
        check(status == 400 and field in error.get("Message", ""),
              f"{log_type} {body} is refused naming {field} ({status} {error})")
    for log_type, body in [
        ("AUTHENTICATION_LOGS", {"DestinationType": "FILE"}),
        ("WORKMAIL_MAILBOX_ACCESS_LOGS", {"DestinationType": "FILE"}),
        ("ACCESS_CONTROL_LOGS", {"DestinationType": "HTTP", "Endpoint": sink_url}),
    ]:
        status, _, error = put(log_type, body)
        check(status == 200, f"PutAuditLogDelivery {log_type} ({status} {error})")
    status, _, listed = carillon_call(server, admin, "GET", base)
    got = {(d["LogType"], d["DestinationType"], d.get("Endpoint")) for d in listed.get("Deliveries", [])}
    check(got == {("AUTHENTICATION_LOGS", "FILE", None), ("WORKMAIL_MAILBOX_ACCESS_LOGS", "FILE", None),
                  ("ACCESS_CONTROL_LOGS", "HTTP", sink_url)}, f"ListAuditLogDeliveries ({listed})")

    # --- Mail to work on ------------------------------------------------------------------
    mx = smtplib.SMTP(*server.addrs["smtp"])
    for n in (1, 2, 3):
        mx.sendmail(EXTERNAL, [f"alice@{DOMAIN}"],
                    f"From: {EXTERNAL}\r\nTo: alice@{DOMAIN}\r\nSubject: n{n}\r\n\r\nbody {n}\r\n".encode())
    mx.quit()

    # --- Logins: two refused, one accepted with an ID ------------------------------------
    for login, password in ((f"alice@{DOMAIN}", "wrong-password"), (f"nobody@{DOMAIN}", PASSWORD)):
        try:
            imap_connect(server, login, password=password)
            check(False, f"{login} with a bad password is refused")
        except imaplib.IMAP4.error:
            pass
    ctx = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
    imap = imaplib.IMAP4_SSL(*server.addrs["imaps"], ssl_context=ctx)
    imap.xatom("ID", '("name" "e2e-audit" "version" "1.0")')
    imap.login(f"alice@{DOMAIN}", PASSWORD)

    # --- Mailbox operations ---------------------------------------------------------------
    imap.list()
    imap.create("Archive")
    imap.status("INBOX", "(MESSAGES)")
    imap.select("INBOX")
    imap.uid("FETCH", "1", "(BODY.PEEK[])")
    imap.uid("FETCH", "1:*", "(FLAGS)")
    imap.uid("STORE", "1", "+FLAGS", "(\\Seen)")
    imap.uid("STORE", "1", "+FLAGS", "(\\Flagged)")
    imap.uid("COPY", "1", "Archive")
    imap.uid("MOVE", "2", "Archive")
    imap.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
    imap.expunge()
    imap.append("Archive", None, None, b"From: a@b\r\nSubject: appended\r\n\r\nx\r\n")
    imap.rename("Archive", "Kept")
    imap.delete("Kept")
    imap.logout()

    sub = smtplib.SMTP(*server.addrs["submission"])
    sub.starttls(context=ctx)
    sub.login(f"alice@{DOMAIN}", PASSWORD)
    sub.sendmail(f"alice@{DOMAIN}", [f"bob@{DOMAIN}"],
                 f"From: alice@{DOMAIN}\r\nTo: bob@{DOMAIN}\r\nSubject: out\r\n\r\nhi\r\n".encode())
    sub.quit()

    # --- AUTHENTICATION_LOGS --------------------------------------------------------------
    arn = f"arn:aws:workmail:us-east-1:"
    auth = lines(server, org, "AUTHENTICATION_LOGS")
    check(len(auth) == 4, f"one authentication record per attempt ({len(auth)})")
    for record in auth:
        check(isinstance(record.get("event_timestamp"), int) and record.get("request_id")
              and record.get("organization_arn", "").startswith(arn)
              and record["organization_arn"].endswith(f":organization/{org}")
              and record.get("source_ip") == "127.0.0.1" and record.get("method") == "basic",
              f"common and authentication fields ({record})")
    by_user = [(r["user"], r["protocol"], r["auth_successful"], r.get("auth_failed_reason"),
                r.get("user_id"), r.get("user_agent")) for r in auth]
    check(by_user == [
        (f"alice@{DOMAIN}", "IMAP", False, "Invalid password", users["alice"], None),
        (f"nobody@{DOMAIN}", "IMAP", False, "No such user", None, None),
        (f"alice@{DOMAIN}", "IMAP", True, None, users["alice"], "e2e-audit/1.0"),
        (f"alice@{DOMAIN}", "SMTP", True, None, users["alice"], None),
    ], f"the attempts, in order ({by_user})")

    # --- ACCESS_CONTROL_LOGS over HTTP ----------------------------------------------------
    check(wait_until(lambda: sum(len(r) for _, r in Sink.posts) >= 2),
          f"the HTTP sink got the access-control records ({Sink.posts})")
    posted = [r for _, records in Sink.posts for r in records]
    headers = Sink.posts[0][0] if Sink.posts else {}
    check(headers.get("content-type") == "application/x-ndjson"
          and headers.get("x-carillon-audit-log-type") == "ACCESS_CONTROL_LOGS",
          f"the POST says what it carries ({headers})")
    check([(r["protocol"], r["scope"], r["access_granted"], "rule_id" in r, r["user_id"]) for r in posted]
          == [("IMAP", "AccessControl", True, False, users["alice"]),
              ("SMTP", "AccessControl", True, False, users["alice"])],
          f"one access-control evaluation per accepted login ({posted})")

    # --- WORKMAIL_MAILBOX_ACCESS_LOGS -----------------------------------------------------
    access = lines(server, org, "WORKMAIL_MAILBOX_ACCESS_LOGS")
    check(all(r.get("owner_id") == users["alice"] and r.get("user_id") == users["alice"]
              and r.get("action_allowed") is True for r in access),
          "every mailbox record names the owner and was allowed")
    seen = [(r["action"], r["object_type"], r["folder_path"]) for r in access]
    expected = [
        ("read_hierarchy", "folder", "*"),
        ("create", "folder", "Archive"),
        ("read_summary", "folder", "INBOX"),
        ("read_summary", "folder", "INBOX"),
        ("read", "message", "INBOX"),
        ("read_summary", "message", "INBOX"),
        ("read_summary", "message", "INBOX"),
        ("read_summary", "message", "INBOX"),
        ("update_read_state", "message", "INBOX"),
        ("update", "message", "INBOX"),
        ("copy", "message", "INBOX"),
        ("copy_to", "folder", "Archive"),
        ("move", "message", "INBOX"),
        ("move_to", "folder", "Archive"),
        ("update", "message", "INBOX"),
        ("delete", "message", "INBOX"),
        ("create", "message", "Archive"),
        ("update", "folder", "Archive"),
        ("delete", "folder", "Kept"),
        ("submit_email_for_sending", "message", "Sent Items"),
    ]
    check(seen == expected, f"the mailbox actions in order ({seen})")
    read = [r for r in access if r["action"] == "read"]
    check(read and read[0]["item_id"] == f"{read[0]['folder_id']}:1" and read[0]["folder_id"],
          f"a message's item_id is <folder id>:<UID> ({read})")
    create = [r for r in access if r["action"] == "create" and r["object_type"] == "message"]
    check(create and create[0]["item_id"].endswith(":3"), f"APPEND names the new UID ({create})")
    check(all(r.get("user_agent") == "e2e-audit/1.0" for r in access if r["protocol"] == "IMAP"),
          "IMAP records carry the client's ID")

    # --- Delete: no more records of the type ----------------------------------------------
    status, _, _ = carillon_call(server, admin, "DELETE", f"{base}/AUTHENTICATION_LOGS")
    check(status == 200, "DeleteAuditLogDelivery")
    status, _, error = carillon_call(server, admin, "DELETE", f"{base}/AUTHENTICATION_LOGS")
    check(status == 400 and error.get("Code") == "ResourceNotFoundException",
          f"deleting it again is ResourceNotFoundException ({status} {error})")
    imap_connect(server, f"bob@{DOMAIN}").logout()
    check(len(lines(server, org, "AUTHENTICATION_LOGS")) == 4, "no authentication record after Delete")
    check(wait_until(lambda: sum(len(r) for _, r in Sink.posts) >= 3),
          "the access-control delivery goes on")


if __name__ == "__main__":
    main()
