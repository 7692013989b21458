#!/usr/bin/env python3
"""Issue 2 section 9: bad input gets a clear error and loses nothing.

Model-constraint violations (boto3 with client-side validation off, so the server's own
validation answers), malformed JSON, malformed SMTP and IMAP commands (the session goes on),
an oversize message (552 5.3.4), and an unknown operation path.

Usage: bad_input.py --carillon PATH
"""

import argparse
import os
import socket
import ssl
import sys
import tempfile

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import urllib.request
import urllib.error

from harness import FAILURES, PASSWORD, Carillon, aws, check, credentials


def expect_client_error(call, code, member, what):
    try:
        call()
        check(False, f"{what}: refused")
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        message = e.response["Error"].get("Message", "")
        check(got == code, f"{what}: {code} ({got})")
        check(member.lower() in message.lower(), f"{what}: message names {member!r} ({message})")


def signed_raw(server, key, secret, target, body):
    """A correctly signed awsJson1.1 request with an arbitrary (possibly malformed) body."""
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=server.endpoint + "/", data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "workmail", "us-east-1").add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=prepared.body, headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def smtp_lines(sock_file):
    line = sock_file.readline()
    lines = [line]
    while line[3:4] == b"-":
        line = sock_file.readline()
        lines.append(line)
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="carillon-bad-")
    server = Carillon(args.carillon, tmp, [])
    try:
        run(server, tmp)
    finally:
        server.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def run(server, tmp):
    admin = os.path.join(tmp, "admin-credentials")
    key, secret = credentials(admin)
    client = boto3.client("workmail", region_name="us-east-1", endpoint_url=server.endpoint,
                          aws_access_key_id=key, aws_secret_access_key=secret,
                          config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}))
    org = client.create_organization(Alias="acme")["OrganizationId"]

    # Model constraints, checked by the server (client-side validation is off).
    expect_client_error(lambda: client.create_organization(Alias="bad alias!"),
                        "InvalidParameterException", "alias", "Alias pattern")
    expect_client_error(lambda: client.describe_organization(OrganizationId="m-short"),
                        "InvalidParameterException", "organizationId", "OrganizationId pattern")
    expect_client_error(lambda: client.create_user(OrganizationId=org, Name="x" * 300, DisplayName="X"),
                        "InvalidParameterException", "name", "Name too long")
    expect_client_error(lambda: client.list_users(OrganizationId=org, MaxResults=10000),
                        "InvalidParameterException", "maxResults", "MaxResults range")
    expect_client_error(lambda: client.list_users(OrganizationId=org, Filters={"State": "SLEEPING"}),
                        "InvalidParameterException", "state", "State enum")
    expect_client_error(lambda: client.create_group(OrganizationId=org),
                        "InvalidParameterException", "name", "required Name missing")
    uid = client.create_user(OrganizationId=org, Name="alice", DisplayName="Alice", Password=PASSWORD)["UserId"]
    expect_client_error(lambda: client.update_mailbox_quota(OrganizationId=org, UserId=uid, MailboxQuota=0),
                        "InvalidParameterException", "mailboxQuota", "MailboxQuota below 1")
    expect_client_error(lambda: client.create_user(OrganizationId=org, Name="bob", DisplayName="Bob", Password="short"),
                        "InvalidPasswordException", "password", "password policy")

    status, headers, body = signed_raw(server, key, secret, "WorkMailService.ListOrganizations", b"{not json")
    check(status == 400 and b"SerializationException" in body, f"malformed JSON -> 400 SerializationException ({status} {body[:80]!r})")
    status, headers, body = signed_raw(server, key, secret, "WorkMailService.NoSuchOperation", b"{}")
    check(status in (400, 404) and b"UnknownOperationException" in body, f"unknown operation ({status} {body[:80]!r})")
    status, headers, body = signed_raw(server, key, secret, "WorkMailService.ListOrganizations", b"{}")
    check(status == 200, "a well-formed signed raw request still works")

    # Malformed SMTP commands: answered 500/501, and the session goes on.
    address = "alice@acme.localhost"
    client.register_to_work_mail(OrganizationId=org, EntityId=uid, Email=address)
    sock = socket.create_connection(server.addrs["smtp"])
    f = sock.makefile("rb")
    smtp_lines(f)
    for cmd, codes in ((b"EHLO bad.test", (b"250",)), (b"FROB NICATE", (b"500",)),
                       (b"MAIL FROM:<unterminated", (b"501", b"500")), (b"RCPT TO:<x@y>", (b"503", b"501")),
                       (b"NOOP", (b"250",)), (b"MAIL FROM:<s@partner.test>", (b"250",)),
                       (f"RCPT TO:<{address}>".encode(), (b"250",))):
        sock.sendall(cmd + b"\r\n")
        reply = smtp_lines(f)[-1]
        check(reply[:3] in codes, f"SMTP {cmd.decode()!r} -> {reply.decode().strip()!r}")
    # Oversize: over the 40 MB MIME limit is refused 552 5.3.4 after DATA.
    sock.sendall(b"DATA\r\n")
    smtp_lines(f)
    chunk = (b"x" * 998 + b"\r\n") * 1024
    sock.sendall(b"Subject: big\r\n\r\n")
    for _ in range(42):
        sock.sendall(chunk)
    sock.sendall(b".\r\n")
    reply = smtp_lines(f)[-1]
    check(reply.startswith(b"552") and b"5.3.4" in reply, f"oversize message -> {reply.decode().strip()!r}")
    sock.sendall(b"QUIT\r\n")
    sock.close()

    # Malformed IMAP commands: BAD, and the session goes on.
    ctx = ssl.create_default_context(cafile=os.path.join(tmp, "tls", "cert.pem"))
    raw = ctx.wrap_socket(socket.create_connection(server.addrs["imaps"]), server_hostname="localhost")
    g = raw.makefile("rb")
    g.readline()
    for tag, cmd, want in ((b"a1", b"FROBNICATE", b"BAD"), (b"a2", b"LOGIN", b"BAD"),
                           (b"a3", b"SELECT", b"BAD"), (b"a4", b"NOOP", b"OK"),
                           (b"a5", b'LOGIN "%s" "%s"' % (address.encode(), PASSWORD.encode()), b"OK"),
                           (b"a6", b"FETCH x:y (FLAGS)", b"BAD"), (b"a7", b"SELECT INBOX", b"OK")):
        raw.sendall(tag + b" " + cmd + b"\r\n")
        line = g.readline()
        while not line.startswith(tag + b" "):
            line = g.readline()
        check(line.split()[1] == want, f"IMAP {cmd.decode()!r} -> {line.decode().strip()!r}")
    raw.sendall(b"a8 LOGOUT\r\n")
    raw.close()
    listed = aws(server, admin, "workmail", "list-users", "--organization-id", org)["Users"]
    check(any(u["Name"] == "alice" for u in listed), "the server still answers after all the bad input")


if __name__ == "__main__":
    main()
