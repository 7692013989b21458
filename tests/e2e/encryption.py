#!/usr/bin/env python3
"""Encryption at rest end to end (issue 3 point 9, workmail.md §5.3, §2.6 KmsKeyArn), driven
by clients nobody here wrote: keys through Carillon's admin API (SigV4 service `carillon`,
botocore), the organization, its users and an export through the `aws` CLI, journaling
through the admin API, mail with smtplib (MX and submission, local and foreign recipients),
an IMAP APPEND and every read back with imaplib. An aiosmtpd server stands in as the
smarthost for the foreign recipient.

Checks: CreateKey / ListKeys / DescribeKey (another account's key not found); a key file is
private (0600); CreateOrganization refuses a KmsKeyArn that is malformed, unknown or another
account's (InvalidParameterException naming KmsKeyArn) and takes the created key; every
message (inbound to two mailboxes, submitted to a local and a foreign recipient, appended
over IMAP, a large multi-chunk one, and the journal records of each) reads back unchanged
through IMAP, also after a restart (keys come back from the key files, none cached); the
foreign recipient gets the message as sent; an export of the mailbox holds the message,
read through `carillon exports get`; then no file anywhere under the data directory (blob
store, database, logs, keys) contains any message's distinctive marker, and every stored
message blob is sealed (starts with the sealing magic).

Usage: encryption.py --carillon PATH
"""

import argparse
import os
import secrets
import smtplib
import ssl
import stat
import sys
import tempfile
import time

from aiosmtpd.controller import Controller

from harness import (EXTERNAL, FAILURES, PASSWORD, Carillon, Collector, aws, carillon_call, check, fetch_all,
                     free_port, imap_connect, normalize)

ALIAS = "vaulted"
DOMAIN = f"{ALIAS}.localhost"
BUCKET = "sealed-exports"
ROLE = "arn:aws:iam::111122223333:role/WorkMailExportRole"
SEAL_MAGIC = b"CRLNSEAL"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()
    collector = Collector()
    peer_port = free_port()
    peer = Controller(collector, hostname="127.0.0.1", port=peer_port)
    peer.start()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-encryption-")
    extra = ["--smarthost", f"127.0.0.1:{peer_port}"]
    server = Carillon(args.carillon, tmp, extra)
    try:
        markers = run(server, collector)
        server.stop()
        # A fresh process: nothing cached, every key unwrapped again from the key files.
        server = Carillon(args.carillon, tmp, extra)
        check_mailboxes(server, markers)
        server.stop()
        scan(tmp, markers)
    finally:
        if server.proc.poll() is None:
            server.stop()
        peer.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def marker(what):
    """A distinctive string that can only come from this message."""
    return f"MARKER-{what}-{secrets.token_hex(8)}"


def message(sender, to, mark, extra_body=""):
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {mark}\r\nMessage-ID: <{mark}@remote.test>\r\n\r\n"
            f"Body of {mark}.\r\n{extra_body}").encode()


def run(server, collector):
    admin = os.path.join(server.data_dir, "admin-credentials")
    other = os.path.join(server.data_dir, "other-credentials")
    server.cli("accounts", "create", "--name", "other", "--credentials-out", other)

    # --- Keys through Carillon's admin API ---------------------------------------------
    status, _, created = carillon_call(server, admin, "POST", "/carillon/v1/keys", {"Description": "mail"})
    check(status == 200 and created["KeyMetadata"]["KeyManager"] == "CUSTOMER", f"CreateKey ({status} {created})")
    key = created["KeyMetadata"]["Arn"]
    key_id = created["KeyMetadata"]["KeyId"]
    check(key.startswith("arn:aws:kms:us-east-1:") and key.endswith(f":key/{key_id}"), f"key ARN shape ({key})")
    status, _, listed = carillon_call(server, admin, "GET", "/carillon/v1/keys")
    check(status == 200 and [k["KeyArn"] for k in listed["Keys"]] == [key], f"ListKeys ({listed})")
    status, _, described = carillon_call(server, admin, "GET", f"/carillon/v1/keys/{key_id}")
    check(status == 200 and described["KeyMetadata"]["Arn"] == key, f"DescribeKey ({described})")
    status, _, body = carillon_call(server, other, "GET", f"/carillon/v1/keys/{key_id}")
    check(status == 400 and body.get("Code") == "NotFoundException",
          f"another account's key is not found ({status} {body})")
    status, _, foreign = carillon_call(server, other, "POST", "/carillon/v1/keys", {})
    foreign_key = foreign["KeyMetadata"]["Arn"]
    key_files = [os.path.join(root, name) for root, _, names in os.walk(os.path.join(server.data_dir, "keys"))
                 for name in names]
    check(key_files and all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in key_files),
          f"key files are mode 0600 ({len(key_files)})")

    # --- CreateOrganization with a KmsKeyArn ---------------------------------------------
    for bogus in ("arn:aws:kms:us-east-1:123456789012:key/not-a-key",
                  key.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000",
                  foreign_key):
        err = aws(server, admin, "workmail", "create-organization", "--alias", "bogus-key", "--kms-key-arn", bogus,
                  expect_error=True)
        check("InvalidParameterException" in err and "KmsKeyArn" in err,
              f"create-organization refuses KmsKeyArn {bogus} ({err.strip()})")
    org = aws(server, admin, "workmail", "create-organization", "--alias", ALIAS,
              "--kms-key-arn", key)["OrganizationId"]
    users = {}
    for name in ("alice", "bob", "journal"):
        uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", name,
                  "--display-name", name.title(), "--password", PASSWORD)["UserId"]
        aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
            "--entity-id", uid, "--email", f"{name}@{DOMAIN}")
        users[name] = uid
    status, _, body = carillon_call(server, admin, "PUT", f"/carillon/v1/organizations/{org}/journaling-configuration",
                                    {"JournalingEmailAddress": f"journal@{DOMAIN}",
                                     "ReportEmailAddress": f"alice@{DOMAIN}"})
    check(status == 200, f"journaling on ({status} {body})")

    # --- Mail with markers -----------------------------------------------------------------
    markers = {}
    inbound = marker("INBOUND")
    markers[inbound] = message(EXTERNAL, f"alice@{DOMAIN}, bob@{DOMAIN}", inbound)
    large = marker("LARGE")
    filler = "".join(f"line {i:06d} of a long message padding it over several 64 KiB chunks\r\n"
                     for i in range(4000))
    markers[large] = message(EXTERNAL, f"alice@{DOMAIN}", large, filler + large + "\r\n")
    mx = smtplib.SMTP(*server.addrs["smtp"])
    mx.sendmail(EXTERNAL, [f"alice@{DOMAIN}", f"bob@{DOMAIN}"], markers[inbound])
    mx.sendmail(EXTERNAL, [f"alice@{DOMAIN}"], markers[large])
    mx.quit()

    local = marker("SUBMITTED-LOCAL")
    markers[local] = message(f"alice@{DOMAIN}", f"bob@{DOMAIN}", local)
    far = marker("SUBMITTED-FOREIGN")
    markers[far] = message(f"alice@{DOMAIN}", EXTERNAL, far)
    ctx = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
    sub = smtplib.SMTP(*server.addrs["submission"])
    sub.starttls(context=ctx)
    sub.login(f"alice@{DOMAIN}", PASSWORD)
    sub.sendmail(f"alice@{DOMAIN}", [f"bob@{DOMAIN}"], markers[local])
    sub.sendmail(f"alice@{DOMAIN}", [EXTERNAL], markers[far])
    sub.quit()

    appended = marker("APPENDED")
    markers[appended] = message(f"alice@{DOMAIN}", f"alice@{DOMAIN}", appended)
    imap = imap_connect(server, f"alice@{DOMAIN}")
    check(imap.append("Drafts", None, None, markers[appended])[0] == "OK", "IMAP APPEND to Drafts")
    imap.logout()

    deadline = time.time() + 60
    while time.time() < deadline and not collector.messages:
        time.sleep(0.5)
    got = [m for m in collector.messages if far.encode() in m[2]]
    check(len(got) == 1 and got[0][1] == [EXTERNAL], "the foreign recipient got the submitted message")
    if got:
        check(normalize(got[0][2]).endswith(normalize(markers[far]).split(b"\n\n", 1)[1]),
              "the foreign recipient's copy has the body as sent")

    check_mailboxes(server, markers)

    # --- An export sealed under the key -------------------------------------------------
    job = aws(server, admin, "workmail", "start-mailbox-export-job", "--organization-id", org,
              "--entity-id", users["bob"], "--role-arn", ROLE, "--kms-key-arn", key,
              "--s3-bucket-name", BUCKET, "--s3-prefix", "sealed")["JobId"]
    deadline = time.time() + 120
    described = {}
    while time.time() < deadline:
        described = aws(server, admin, "workmail", "describe-mailbox-export-job", "--organization-id", org,
                        "--job-id", job)
        if described.get("State") != "RUNNING":
            break
        time.sleep(0.5)
    check(described.get("State") == "COMPLETED", f"export completed ({described})")
    fd, out = tempfile.mkstemp(prefix="carillon-e2e-encryption-export-")
    os.close(fd)
    server.cli("exports", "get", "--bucket", BUCKET, "--key", f"sealed/{job}/messages/INBOX/1.eml", "--out", out)
    with open(out, "rb") as f:
        exported = f.read()
    os.unlink(out)
    check(inbound.encode() in exported, "the export holds the message, readable through carillon exports get")
    return markers


def check_mailboxes(server, markers):
    """Every marker message reads back unchanged through IMAP where it was delivered, and
    the journal mailbox holds a record of each delivered message."""
    expected = {
        "alice": {"INBOX": [m for m in markers if "INBOUND" in m or "LARGE" in m],
                  "Sent Items": [m for m in markers if "SUBMITTED" in m],
                  "Drafts": [m for m in markers if "APPENDED" in m]},
        "bob": {"INBOX": [m for m in markers if "INBOUND" in m or "SUBMITTED-LOCAL" in m]},
    }
    for user, folders in expected.items():
        imap = imap_connect(server, f"{user}@{DOMAIN}")
        for folder, wanted in folders.items():
            bodies = fetch_all(imap, folder)
            for mark in wanted:
                found = [b for b in bodies if mark.encode() in b]
                check(len(found) == 1 and normalize(found[0]) == normalize(markers[mark]),
                      f"{user}/{folder}: {mark.rsplit('-', 1)[0]} reads back unchanged over IMAP")
        imap.logout()
    imap = imap_connect(server, f"journal@{DOMAIN}")
    records = fetch_all(imap, "INBOX")
    imap.logout()
    for mark in markers:
        if "APPENDED" in mark:
            continue
        check(any(mark.encode() in r for r in records), f"a journal record of {mark.rsplit('-', 1)[0]}")


def scan(data_dir, markers):
    """No file under the data directory contains any marker; message blobs are sealed."""
    needles = [m.encode() for m in markers]
    files = 0
    leaks = []
    for root, _, names in os.walk(data_dir):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            files += 1
            for needle in needles:
                if needle in data:
                    leaks.append((os.path.relpath(path, data_dir), needle.decode()))
    check(files > 10, f"the scan read the data directory ({files} files)")
    check(not leaks, f"no plaintext marker anywhere in the data directory ({leaks[:5]})")
    messages_dir = os.path.join(data_dir, "blobs", "messages")
    blobs = [os.path.join(messages_dir, n) for n in os.listdir(messages_dir)]
    unsealed = []
    for path in blobs:
        with open(path, "rb") as f:
            if f.read(len(SEAL_MAGIC)) != SEAL_MAGIC:
                unsealed.append(os.path.basename(path))
    check(len(blobs) >= 8 and not unsealed, f"every message blob is sealed ({len(blobs)} blobs, {unsealed})")


if __name__ == "__main__":
    main()
