#!/usr/bin/env python3
"""Chime chat retention, usage reports and exports end to end (issue 4 points 4 and 8;
chime-zh.md §2.6, §2.17; chime-ko.md §2.0.1, §2.0.6, §2.0.7, §3.1) with real clients: the
`aws chime` CLI, urllib (the chat REST API and Carillon's admin API, SigV4-signed by
botocore) and boto3 (Carillon's S3 endpoint).

Two users are invited into an account made Enterprise by a domain verified through the DNS
stub, register from their mailed links and chat in a room. A message's time is the server's
clock when it is posted, so "old" history cannot come from the chat API: the test writes
three messages dated 10, 40 and 100 days back (and one of 50 days later) straight into the
room's table in the SQLite database, as an import of existing history would; for the same
reason the users' creation dates are moved two weeks back before last week's report is
written again (a report lists the users who existed in its week). Everything else goes
through the product: Carillon runs with `--chime-retention-interval-secs 1`.

Checks: put-retention-settings (30 days) hides at once what is older (the chat history no
longer shows it) and get-retention-settings returns it; a message aged 50 days written
afterwards is hidden by the job within seconds; extending to 60 days restores the 40- and
50-day messages inside the 30-day window, turning room retention off restores the 100-day
one; a Team account is refused (ForbiddenException), a bad period is refused, another tenant
sees NotFound. Exports: the room administrator downloads the member list CSV
(`name,email,role`), a plain member gets 403; personal contacts added and exported
(`name,email,phone_number`). Reports: EnableUsageReporting on a new bucket, WriteUsageReport
for last week, the CSV read back with boto3 from the S3 endpoint under the documented key with
the exact header and one row per user; GetUsageReportFigures counts the users and messages.

Usage: chime_retention_reports.py --carillon PATH
"""

import argparse
import datetime
import os
import sqlite3
import sys
import tempfile
import time
import uuid

import boto3
from botocore.config import Config
from dnslib import TXT
from dnslib.server import DNSLogger, DNSServer

from chime_chat import DOMAIN, chime, rest, signed_in_user
from harness import FAILURES, Carillon, Zone, aws, carillon_call, check, credentials

CORP = "retention.example"
BUCKET = "chime-usage-reports"
HEADER = ("account_name,week_start,display_name,email,registration_status,"
          "account_creation_date,last_login,meetings_attended,meetings_hosted,chat_sent")
DAY_MS = 24 * 60 * 60 * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()
    zone = Zone()
    dns = DNSServer(zone, port=0, address="127.0.0.1",
                    logger=DNSLogger("-request,-reply,-truncated", prefix=False))
    dns.start_thread()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-chime-retention-")
    server = Carillon(args.carillon, tmp, ["--dns-resolver", f"127.0.0.1:{dns.server.server_address[1]}",
                                           "--chime-retention-interval-secs", "1"])
    try:
        run(server, zone)
    finally:
        server.stop()
        dns.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def seed_message(server, room_id, sender, age_days, content):
    """A room message dated `age_days` back, written into the server's SQLite database."""
    db = sqlite3.connect(os.path.join(server.data_dir, "carillon.db"), timeout=30)
    created = int(time.time() * 1000) - age_days * DAY_MS
    with db:
        db.execute("INSERT INTO chime_messages (message_id, container_type, container_id, sender_id, "
                   "sender_type, sender_name, content, created_at) VALUES (?, 'room', ?, ?, 'User', "
                   "'Mary Major', ?, ?)", (str(uuid.uuid4()), room_id, sender, content, created))
    db.close()


def history(server, room_id, token):
    status, _, body = rest(server, "GET", f"/chat/v1/rooms/{room_id}/messages?max-results=100", token=token)
    if status != 200:
        check(False, f"history readable ({status} {body})")
    return sorted(m["Content"] for m in body.get("Messages", []))


def put_retention(server, creds, account, room_days, expect_error=None):
    """put-retention-settings with rooms at `room_days` (None: off), conversations at 30."""
    room = "{}" if room_days is None else "{RetentionDays=%d}" % room_days
    return chime(server, creds, "put-retention-settings", "--account-id", account, "--retention-settings",
                 f"RoomRetentionSettings={room},ConversationRetentionSettings={{RetentionDays=30}}",
                 expect_error=expect_error)


def wait_for(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def run(server, zone):
    admin = os.path.join(server.data_dir, "admin-credentials")
    org = aws(server, admin, "workmail", "create-organization", "--alias", "chat")["OrganizationId"]
    account = chime(server, admin, "create-account", "--name", "Retention Corp")["Account"]["AccountId"]
    team = chime(server, admin, "create-account", "--name", "Small Team")["Account"]["AccountId"]
    mary_id, mary = signed_in_user(server, admin, org, account, "mary", "Mary Major")
    john_id, john = signed_in_user(server, admin, org, account, "john", "John Doe")

    # Enterprise: a domain claimed and verified through the DNS stub.
    path = f"/carillon/v1/chime/accounts/{account}/domains"
    status, _, claimed = carillon_call(server, admin, "POST", path, {"DomainName": CORP})
    check(status == 200, f"domain claimed ({status} {claimed})")
    record = claimed.get("Domain", {}).get("VerificationRecord", {})
    zone.add(record.get("Name", "x"), "TXT", TXT(record.get("Value", "x")))
    carillon_call(server, admin, "GET", f"{path}/{CORP}")
    kind = chime(server, admin, "get-account", "--account-id", account)["Account"]["AccountType"]
    check(kind == "EnterpriseLWA", f"the account is Enterprise: {kind}")

    room_id = chime(server, admin, "create-room", "--account-id", account, "--name", "Archive")["Room"]["RoomId"]
    chime(server, admin, "create-room-membership", "--account-id", account, "--room-id", room_id,
          "--member-id", mary_id, "--role", "Administrator")
    chime(server, admin, "create-room-membership", "--account-id", account, "--room-id", room_id,
          "--member-id", john_id, "--role", "Member")
    status, _, _ = rest(server, "POST", f"/chat/v1/rooms/{room_id}/messages", {"Content": "today"}, token=mary)
    check(status == 201, f"Mary posts today ({status})")
    for age in (10, 40, 100):
        seed_message(server, room_id, mary_id, age, f"{age} days ago")
    everything = sorted(["today", "10 days ago", "40 days ago", "100 days ago"])
    check(history(server, room_id, john) == everything, "John sees the whole history before retention")

    # Retention: 30 days hides the 40- and 100-day messages at once.
    put = put_retention(server, admin, account, 30)
    check(put.get("RetentionSettings", {}).get("RoomRetentionSettings") == {"RetentionDays": 30}
          or put == {}, f"put-retention-settings answers: {put}")
    got = chime(server, admin, "get-retention-settings", "--account-id", account)
    check(got["RetentionSettings"] == {"RoomRetentionSettings": {"RetentionDays": 30},
                                       "ConversationRetentionSettings": {"RetentionDays": 30}}
          and "InitiateDeletionTimestamp" in got, f"get-retention-settings: {got}")
    check(history(server, room_id, john) == sorted(["today", "10 days ago"]),
          "messages older than 30 days are hidden from the chat history")

    # The job (every second) hides what ages out after the settings were put.
    seed_message(server, room_id, mary_id, 50, "50 days ago")
    check(wait_for(lambda: "50 days ago" not in history(server, room_id, john)),
          "the retention job hides a message past the period within seconds")

    # The 30-day window: extending restores what the longer period covers, off restores all.
    put_retention(server, admin, account, 60)
    check(history(server, room_id, john) == sorted(["today", "10 days ago", "40 days ago", "50 days ago"]),
          "extending to 60 days restores the 40- and 50-day messages")
    put_retention(server, admin, account, None)
    check(history(server, room_id, mary) == sorted(everything + ["50 days ago"]),
          "turning room retention off restores everything")
    got = chime(server, admin, "get-retention-settings", "--account-id", account)
    check(got["RetentionSettings"].get("RoomRetentionSettings", {}) == {}, f"room retention is off: {got}")

    err = put_retention(server, admin, team, 30, expect_error=True)
    check("ForbiddenException" in err, f"a Team account cannot set retention: {err}")
    err = put_retention(server, admin, account, 0, expect_error=True)
    check("RetentionDays" in err, f"a 0-day period is refused: {err}")
    other = os.path.join(server.data_dir, "other-credentials")
    server.cli("accounts", "create", "--name", "other", "--credentials-out", other)
    err = chime(server, other, "get-retention-settings", "--account-id", account, expect_error=True)
    check("NotFoundException" in err, f"another tenant sees NotFound: {err}")

    # Exports.
    status, headers, _ = rest(server, "GET", f"/chat/v1/rooms/{room_id}/members/export", token=john)
    check(status == 403, f"a plain member cannot export the member list ({status})")
    csv = export(server, f"/chat/v1/rooms/{room_id}/members/export", mary)
    check(csv.splitlines()[0] == "name,email,role"
          and f"Mary Major,mary@{DOMAIN},Administrator" in csv.splitlines()
          and f"John Doe,john@{DOMAIN},Member" in csv.splitlines(), f"member list CSV: {csv!r}")
    status, _, body = rest(server, "POST", "/chat/v1/contacts", {"Email": f"john@{DOMAIN}"}, token=mary)
    check(status == 200 and [c["Email"] for c in body.get("Contacts", [])] == [f"john@{DOMAIN}"],
          f"Mary adds John to her contacts: {status} {body}")
    csv = export(server, "/chat/v1/contacts/export", mary)
    check(csv == f"name,email,phone_number\nJohn Doe,john@{DOMAIN},\n", f"contacts CSV: {csv!r}")

    # Usage reports into Carillon's S3 endpoint.
    status, _, on = carillon_call(server, admin, "PUT", "/carillon/v1/chime/usage-reporting", {"Bucket": BUCKET})
    check(status == 200 and on.get("Enabled") and on.get("Bucket") == BUCKET, f"EnableUsageReporting: {on}")
    status, _, taken = carillon_call(server, other, "PUT", "/carillon/v1/chime/usage-reporting", {"Bucket": BUCKET})
    check(status == 409, f"another tenant cannot report into the bucket: {status} {taken}")
    today = datetime.datetime.now(datetime.timezone.utc).date()
    last_week = today - datetime.timedelta(days=(today.weekday() + 1) % 7 + 7)
    status, _, written = carillon_call(server, admin, "POST", f"/carillon/v1/chime/accounts/{account}/usage-reports",
                                       {"WeekStart": last_week.strftime("%Y%m%d")})
    week = last_week.strftime("%Y%m%d")
    key = (f"Amazon-Chime-User-Activity-Reports/csv/{credentials_account(server)}/"
           f"{last_week:%Y/%m/%d}/RetentionCorp_{account}_{week}.csv")
    check(status == 200 and written.get("Key") == key, f"WriteUsageReport writes under the documented key: {written}")
    key_id, secret = credentials(admin)
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                      aws_secret_access_key=secret, config=Config(s3={"addressing_style": "path"}))
    report = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    check(report == HEADER + "\n", f"users created after the week are not in its report: {report!r}")
    # The users as if they had been imported two weeks ago (their creation date in the
    # database), so last week's report has their rows; written again, the object is replaced.
    db = sqlite3.connect(os.path.join(server.data_dir, "carillon.db"), timeout=30)
    with db:
        db.execute("UPDATE chime_users SET created_at = created_at - ? WHERE chime_account_id = ?",
                   (14 * DAY_MS, account))
    db.close()
    status, _, written = carillon_call(server, admin, "POST", f"/carillon/v1/chime/accounts/{account}/usage-reports",
                                       {"WeekStart": last_week.strftime("%Y-%m-%d")})
    check(status == 200 and written.get("Key") == key, f"WriteUsageReport again: {written}")
    report = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    lines = report.splitlines()
    check(lines[0] == HEADER, f"the report's header is the documented one: {lines[:1]}")
    rows = {line.split(",")[3]: line.split(",") for line in lines[1:]}
    check(sorted(rows) == [f"john@{DOMAIN}", f"mary@{DOMAIN}"], f"one row per user: {lines}")
    mary_row = rows.get(f"mary@{DOMAIN}", [""] * 10)
    check(mary_row[:3] == ["Retention Corp", week, "Mary Major"] and mary_row[4] == "Registered"
          and mary_row[6].endswith("Z") and mary_row[7:9] == ["0", "0"], f"Mary's row: {mary_row}")

    status, _, figures = carillon_call(server, admin, "POST",
                                       f"/carillon/v1/chime/accounts/{account}/usage-report-figures", {})
    check(status == 200 and figures.get("RegisteredUsers") == 2 and figures.get("ActiveUsers") == 1
          and figures.get("ChatMessagesSent") == 2 and figures.get("MeetingsHeld") == 0,
          f"figures of the last 30 days (today's post, the 10-day one): {figures}")
    status, _, off = carillon_call(server, admin, "DELETE", "/carillon/v1/chime/usage-reporting")
    check(status == 200 and off.get("Enabled") is False, f"DisableUsageReporting: {off}")
    check(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode() == report,
          "the report stays in the bucket after reporting is turned off")


def credentials_account(server):
    """The 12-digit account of the admin credentials (from the STS-free ARN in ListAccounts)."""
    return chime(server, os.path.join(server.data_dir, "admin-credentials"), "list-accounts")["Accounts"][0]["AwsAccountId"]


def export(server, path, token):
    status, headers, body = rest_raw(server, path, token)
    check(status == 200 and headers.get("Content-Type", "").startswith("text/csv")
          and "attachment" in headers.get("Content-Disposition", ""), f"CSV download {path} ({status})")
    return body


def rest_raw(server, path, token):
    import urllib.error
    import urllib.request
    request = urllib.request.Request(server.endpoint + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


if __name__ == "__main__":
    main()
