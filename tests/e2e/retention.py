#!/usr/bin/env python3
"""Mailbox retention end to end (issue 3 point 6, workmail.md §2.12), driven by clients nobody
here wrote: the organization, its user and the retention policy through the `aws` CLI,
messages APPENDed with imaplib with old and new INTERNALDATEs, and the folders read back over
IMAP while the server runs its retention job every second (`--retention-interval-secs 1`).

Checks: Put/Get/Delete of the policy with the model's errors (Period out of range, no policy);
aged INBOX items moved to Deleted Items (DELETE), aged Junk E-mail items expunged
(PERMANENTLY_DELETE) with the EXPUNGE announced to a session that has the folder selected;
younger items and folders whose action is NONE kept; another account cannot read the policy;
after Delete and a new policy without INBOX, aged INBOX items stay.

Usage: retention.py --carillon PATH
"""

import argparse
import imaplib
import os
import sys
import tempfile
import time

from harness import FAILURES, PASSWORD, Carillon, aws, check, fetch_all, imap_connect

ALIAS = "keeper"
DOMAIN = f"{ALIAS}.localhost"
USER = f"alice@{DOMAIN}"
DAY = 24 * 3600


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-retention-")
    server = Carillon(args.carillon, tmp, ["--retention-interval-secs", "1"])
    try:
        run(server)
    finally:
        server.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def message(subject):
    return (f"From: bob@{DOMAIN}\r\nTo: {USER}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@{DOMAIN}>\r\n\r\n{subject} body\r\n").encode()


def append(imap, folder, subject, age_days):
    """APPENDs a message whose INTERNALDATE is `age_days` ago."""
    when = imaplib.Time2Internaldate(time.time() - age_days * DAY)
    typ, data = imap.append(f'"{folder}"', None, when, message(subject))
    assert typ == "OK", (folder, subject, data)


def subjects(imap, folder):
    found = set()
    for body in fetch_all(imap, folder):
        for line in body.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                found.add(line[len(b"Subject: "):].decode())
    return found


def wait_until(condition, timeout=60):
    """Polls `condition` (the job runs every second) until it holds or `timeout` passes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def run(server):
    admin = os.path.join(server.data_dir, "admin-credentials")
    org = aws(server, admin, "workmail", "create-organization", "--alias", ALIAS)["OrganizationId"]
    uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", "alice",
              "--display-name", "Alice", "--password", PASSWORD)["UserId"]
    aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
        "--entity-id", uid, "--email", USER)

    # --- Aged and young items over IMAP, before any policy exists -----------------------
    imap = imap_connect(server, USER)
    append(imap, "INBOX", "inbox-old", 45)
    append(imap, "INBOX", "inbox-new", 2)
    append(imap, "Junk E-mail", "junk-old", 20)
    append(imap, "Junk E-mail", "junk-new", 1)
    append(imap, "Drafts", "draft-old", 400)
    imap.logout()

    # This session knows the aged junk item before the policy exists, so it must be told
    # of its EXPUNGE later.
    watcher = imap_connect(server, USER)
    typ, data = watcher.select('"Junk E-mail"')
    check(typ == "OK" and data == [b"2"], f"a second session has Junk E-mail selected ({data})")

    # --- The policy through the aws CLI --------------------------------------------------
    err = aws(server, admin, "workmail", "get-default-retention-policy", "--organization-id", org,
              expect_error=True)
    check("EntityNotFoundException" in err, "no policy yet: EntityNotFoundException")
    err = aws(server, admin, "workmail", "put-retention-policy", "--organization-id", org, "--name", "bad",
              "--folder-configurations", "Name=INBOX,Action=DELETE,Period=731", expect_error=True)
    check("InvalidParameterException" in err or "ValidationException" in err,
          f"Period 731 is refused ({err.strip()[-120:]})")
    err = aws(server, admin, "workmail", "put-retention-policy", "--organization-id", org, "--name", "bad",
              "--folder-configurations", "Name=INBOX,Action=DELETE", expect_error=True)
    check("InvalidParameterException" in err, "DELETE without Period is refused")

    # Put a first policy (on the empty Sent Items), then replace it: only the second applies.
    aws(server, admin, "workmail", "put-retention-policy", "--organization-id", org, "--name", "first",
        "--folder-configurations", "Name=SENT_ITEMS,Action=PERMANENTLY_DELETE,Period=1")
    aws(server, admin, "workmail", "put-retention-policy", "--organization-id", org, "--name", "standard",
        "--description", "Thirty days in the Inbox",
        "--folder-configurations",
        "Name=INBOX,Action=DELETE,Period=30",
        "Name=JUNK_EMAIL,Action=PERMANENTLY_DELETE,Period=10",
        "Name=DRAFTS,Action=NONE")
    policy = aws(server, admin, "workmail", "get-default-retention-policy", "--organization-id", org)
    check(policy.get("Name") == "standard" and policy.get("Description") == "Thirty days in the Inbox",
          "Get returns the replacing policy's name and description")
    folders = {f["Name"]: f for f in policy.get("FolderConfigurations", [])}
    check(set(folders) == {"INBOX", "JUNK_EMAIL", "DRAFTS"}, f"three folder configurations ({sorted(folders)})")
    check(folders.get("INBOX", {}).get("Period") == 30 and folders["INBOX"].get("Action") == "DELETE",
          "INBOX: DELETE after 30 days")
    check(bool(policy.get("Id")), "the policy has an Id")

    other = os.path.join(server.data_dir, "other-credentials")
    server.cli("accounts", "create", "--name", "other", "--credentials-out", other)
    err = aws(server, other, "workmail", "get-default-retention-policy", "--organization-id", org,
              expect_error=True)
    check("OrganizationNotFoundException" in err, "another account cannot read the policy")

    reader = imap_connect(server, USER)
    moved = wait_until(lambda: subjects(reader, "INBOX") == {"inbox-new"}
                       and "junk-old" not in subjects(reader, "Junk E-mail"))
    check(moved, "the retention job ran within a minute")
    check(subjects(reader, "INBOX") == {"inbox-new"}, "aged INBOX item left INBOX, the young one stayed")
    check(subjects(reader, "Deleted Items") == {"inbox-old"}, "DELETE moved the aged item to Deleted Items")
    check(subjects(reader, "Junk E-mail") == {"junk-new"}, "PERMANENTLY_DELETE expunged the aged junk")
    check(subjects(reader, "Drafts") == {"draft-old"}, "NONE keeps even a 400-day-old draft")
    for folder in ("INBOX", "Deleted Items", "Junk E-mail", "Drafts", "Sent Items"):
        check("junk-old" not in subjects(reader, folder), f"the expunged item is not in {folder}")
    reader.logout()

    watcher.noop()
    untagged = watcher.untagged_responses
    check("EXPUNGE" in untagged, f"the selected session is told EXPUNGE ({sorted(untagged)})")
    watcher.logout()

    # --- Delete, then a policy without INBOX: aged INBOX items stay ---------------------
    aws(server, admin, "workmail", "delete-retention-policy", "--organization-id", org, "--id", policy["Id"])
    err = aws(server, admin, "workmail", "get-default-retention-policy", "--organization-id", org,
              expect_error=True)
    check("EntityNotFoundException" in err, "Delete removes the policy")
    imap = imap_connect(server, USER)
    append(imap, "INBOX", "inbox-after-delete", 90)
    aws(server, admin, "workmail", "put-retention-policy", "--organization-id", org, "--name", "junk-only",
        "--folder-configurations", "Name=JUNK_EMAIL,Action=PERMANENTLY_DELETE,Period=10")
    append(imap, "Junk E-mail", "junk-marker", 30)
    # The marker's removal proves a pass ran under the new policy.
    check(wait_until(lambda: "junk-marker" not in subjects(imap, "Junk E-mail")),
          "the new policy expunged the aged junk marker")
    check("inbox-after-delete" in subjects(imap, "INBOX"), "INBOX is no longer covered: the aged item stays")
    imap.logout()

if __name__ == "__main__":
    main()
