#!/usr/bin/env python3
"""Mailbox export end to end (issue 3 point 8, workmail.md §2.22, §4.8), driven by clients
nobody here wrote: the organization, its user and the export through the `aws` CLI, mail in
with smtplib (MX and submission), the mailbox read back with imaplib.

Carillon writes exports to its own blob store: `S3BucketName` and `S3Prefix` select
`<data-dir>/blobs/exports/<bucket>/<S3Path>/` (S3Path = `<prefix>/<job id>`), holding
`messages/<folder>/<uid>.eml`, `SHA384SUMS` and the §4.8 `output-log.json`, each sealed at rest
under the job's KmsKeyArn (a Carillon key made with CreateKey); `carillon exports get` reads
them decrypted.

Checks: the job goes RUNNING -> COMPLETED with EstimatedProgress 100; every exported file
equals, byte for byte, what IMAP returns for that folder and UID (nested folder included),
while the file at rest is ciphertext, and every message of the mailbox is exported; SHA384SUMS verifies and the output log has the
§4.8 fields as strings with the right counts and hash; list-mailbox-export-jobs shows the
job; a second export of the mailbox within 24 hours is LimitExceededException; a completed
job cannot be cancelled; another account's caller gets OrganizationNotFoundException.

Usage: export.py --carillon PATH
"""

import argparse
import hashlib
import json
import os
import re
import smtplib
import ssl
import sys
import tempfile
import time

from harness import FAILURES, PASSWORD, Carillon, aws, carillon_call, check, imap_connect

ALIAS = "exporter"
DOMAIN = f"{ALIAS}.localhost"
BUCKET = "legal-exports"
PREFIX = "holds/2026"
ROLE = "arn:aws:iam::111122223333:role/WorkMailExportRole"
NESTED = "Archive/2026"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-export-")
    server = Carillon(args.carillon, tmp, [])
    try:
        run(server)
    finally:
        server.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def corpus_like_messages():
    """Messages shaped like the corpus: folded headers, multipart with an attachment,
    8-bit UTF-8 text, a long line."""
    plain = (f"From: Partner <partner@remote.test>\r\nTo: alice@{DOMAIN}\r\n"
             "Subject: Quarterly figures\r\n"
             "Message-ID: <q1@remote.test>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
             "References: <a@remote.test>\r\n <b@remote.test>\r\n\r\n"
             "Numbers attached.\r\n" + "x" * 900 + "\r\n").encode()
    multipart = (f"From: Partner <partner@remote.test>\r\nTo: alice@{DOMAIN}\r\n"
                 "Subject: =?utf-8?q?R=C3=A9union?=\r\nMessage-ID: <q2@remote.test>\r\n"
                 "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BOUND\"\r\n\r\n"
                 "--BOUND\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + "Ça va très bien.\r\n".encode() + (
                 b"--BOUND\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQoLDA0ODxAREhM=\r\n--BOUND--\r\n")
    third = (f"From: Partner <partner@remote.test>\r\nTo: alice@{DOMAIN}\r\n"
             "Subject: Move me\r\nMessage-ID: <q3@remote.test>\r\n\r\nArchive this one.\r\n").encode()
    return [plain, multipart, third]


def imap_mailbox(server, address):
    """{(folder, uid): raw bytes} of every message, as IMAP returns it (BODY.PEEK[])."""
    imap = imap_connect(server, address)
    typ, listing = imap.list()
    assert typ == "OK"
    folders = []
    for line in listing:
        match = re.match(rb'\((.*?)\) "(.)" (.*)', line)
        name = match.group(3).decode()
        folders.append(name[1:-1] if name.startswith('"') else name)
    out = {}
    for folder in folders:
        typ, _ = imap.select(f'"{folder}"', readonly=True)
        assert typ == "OK", folder
        typ, data = imap.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                out[(folder, uid)] = item[1]
    imap.logout()
    return folders, out


def read_export(server, key):
    """The export file `key` of BUCKET, decrypted by `carillon exports get`."""
    fd, out = tempfile.mkstemp(prefix="carillon-e2e-export-file-")
    os.close(fd)
    try:
        server.cli("exports", "get", "--bucket", BUCKET, "--key", key, "--out", out)
        with open(out, "rb") as f:
            return f.read()
    finally:
        os.unlink(out)


def run(server):
    admin = os.path.join(server.data_dir, "admin-credentials")
    status, _, created = carillon_call(server, admin, "POST", "/carillon/v1/keys", {"Description": "exports"})
    check(status == 200, f"CreateKey ({status} {created})")
    kms_key = created["KeyMetadata"]["Arn"]
    org = aws(server, admin, "workmail", "create-organization", "--alias", ALIAS)["OrganizationId"]
    alice = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", "alice",
                "--display-name", "Alice", "--password", PASSWORD)["UserId"]
    aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
        "--entity-id", alice, "--email", f"alice@{DOMAIN}")

    # --- Mail in: the MX, a submission (Sent Items copy), and a nested folder via IMAP ----
    messages = corpus_like_messages()
    mx = smtplib.SMTP(*server.addrs["smtp"])
    for raw in messages:
        mx.sendmail("partner@remote.test", [f"alice@{DOMAIN}"], raw)
    mx.quit()
    ctx = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
    sub = smtplib.SMTP(*server.addrs["submission"])
    sub.starttls(context=ctx)
    sub.login(f"alice@{DOMAIN}", PASSWORD)
    sub.sendmail(f"alice@{DOMAIN}", [f"alice@{DOMAIN}"],
                 f"From: alice@{DOMAIN}\r\nTo: alice@{DOMAIN}\r\nSubject: note to self\r\n\r\nhi\r\n".encode())
    sub.quit()
    imap = imap_connect(server, f"alice@{DOMAIN}")
    check(imap.create(f'"{NESTED}"')[0] == "OK", f"IMAP CREATE {NESTED}")
    imap.select("INBOX")
    check(imap.uid("COPY", "3", f'"{NESTED}"')[0] == "OK", f"IMAP COPY into {NESTED}")
    imap.logout()
    folders, expected = imap_mailbox(server, f"alice@{DOMAIN}")
    check(len(expected) == 6, f"six messages in the mailbox ({len(expected)})")

    # --- The export --------------------------------------------------------------------
    job = aws(server, admin, "workmail", "start-mailbox-export-job", "--organization-id", org,
              "--entity-id", f"alice@{DOMAIN}", "--description", "legal hold", "--role-arn", ROLE,
              "--kms-key-arn", kms_key, "--s3-bucket-name", BUCKET, "--s3-prefix", PREFIX)["JobId"]
    deadline = time.time() + 120
    described = {}
    while time.time() < deadline:
        described = aws(server, admin, "workmail", "describe-mailbox-export-job", "--organization-id", org,
                        "--job-id", job)
        if described.get("State") != "RUNNING":
            break
        check(0 <= described.get("EstimatedProgress", 0) < 100, "a running job's progress is below 100")
        time.sleep(0.5)
    check(described.get("State") == "COMPLETED", f"the export completes ({described})")
    check(described.get("EstimatedProgress") == 100, "EstimatedProgress 100 once completed")
    check(described.get("EntityId") == alice and described.get("S3BucketName") == BUCKET
          and described.get("S3Prefix") == PREFIX and described.get("KmsKeyArn") == kms_key
          and described.get("RoleArn") == ROLE and described.get("Description") == "legal hold",
          "describe-mailbox-export-job echoes the request")
    check("StartTime" in described and "EndTime" in described and "ErrorInfo" not in described,
          "start and end times, no ErrorInfo")
    s3_path = described.get("S3Path", "")
    check(s3_path == f"{PREFIX}/{job}", f"S3Path is <prefix>/<job id> ({s3_path})")

    root = os.path.join(server.data_dir, "blobs", "exports", BUCKET, *s3_path.split("/"))
    exported = {}
    for folder in folders:
        directory = os.path.join(root, "messages", *folder.split("/"))
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            if name.endswith(".eml"):
                with open(os.path.join(directory, name), "rb") as f:
                    at_rest = f.read()
                plain = read_export(server, f"{s3_path}/messages/{folder}/{name}")
                check(plain not in at_rest and plain[:40] not in at_rest,
                      f"{folder}/{name} is ciphertext at rest")
                exported[(folder, int(name[:-4]))] = plain
    check(set(exported) == set(expected),
          f"one .eml per message of every folder ({sorted(exported)} vs {sorted(expected)})")
    for key, raw in expected.items():
        check(exported.get(key) == raw, f"{key[0]}/{key[1]}.eml equals the IMAP BODY[] byte for byte")

    sums = read_export(server, f"{s3_path}/SHA384SUMS")
    lines = sums.decode().splitlines()
    check(len(lines) == len(expected), f"SHA384SUMS has one line per message ({len(lines)})")
    for line in lines:
        digest, name = line.split("  ", 1)
        check(hashlib.sha384(read_export(server, f"{s3_path}/{name}")).hexdigest() == digest,
              f"SHA384SUMS verifies {name}")
    log = json.loads(read_export(server, f"{s3_path}/output-log.json"))
    check(set(log) == {"totalNonExportableItems", "totalMessages", "sha384Hash", "totalBytes", "totalFolders",
                       "startTime", "endTime"}, f"output log has the §4.8 fields ({sorted(log)})")
    check(all(isinstance(v, str) for v in log.values()), "every output log value is a string")
    check(log.get("totalMessages") == str(len(expected)), f"totalMessages {log.get('totalMessages')}")
    check(log.get("totalFolders") == str(len(folders)), f"totalFolders {log.get('totalFolders')}")
    check(log.get("totalBytes") == str(sum(len(r) for r in expected.values())), "totalBytes is the sum")
    check(log.get("sha384Hash") == hashlib.sha384(sums).hexdigest(), "sha384Hash is the SHA-384 of SHA384SUMS")

    # --- Listing, limits, cancel, tenants ------------------------------------------------
    listed = aws(server, admin, "workmail", "list-mailbox-export-jobs", "--organization-id", org)["Jobs"]
    check([j["JobId"] for j in listed] == [job] and listed[0]["State"] == "COMPLETED",
          f"list-mailbox-export-jobs shows the job ({listed})")
    err = aws(server, admin, "workmail", "start-mailbox-export-job", "--organization-id", org,
              "--entity-id", alice, "--role-arn", ROLE, "--kms-key-arn", kms_key, "--s3-bucket-name", BUCKET,
              "--s3-prefix", PREFIX, expect_error=True)
    check("LimitExceededException" in err, f"one export per mailbox per 24 hours ({err.strip()})")
    err = aws(server, admin, "workmail", "cancel-mailbox-export-job", "--organization-id", org,
              "--job-id", job, expect_error=True)
    check("InvalidParameterException" in err, f"a completed job cannot be cancelled ({err.strip()})")
    other = os.path.join(server.data_dir, "other-credentials")
    server.cli("accounts", "create", "--name", "other", "--credentials-out", other)
    err = aws(server, other, "workmail", "describe-mailbox-export-job", "--organization-id", org,
              "--job-id", job, expect_error=True)
    check("OrganizationNotFoundException" in err, "another account cannot see the job")
    err = aws(server, other, "workmail", "list-mailbox-export-jobs", "--organization-id", org, expect_error=True)
    check("OrganizationNotFoundException" in err, "another account cannot list the jobs")


if __name__ == "__main__":
    main()
