#!/usr/bin/env python3
"""Chime phone numbers end to end (issue 4 point 7; chime-zh.md §1.12, §2.13, §2.14, §4;
chime-ja.md §4.2) with the real binary and the real `aws chime` CLI.

Checks: `carillon phone-numbers import FILE.csv` imports the operator's numbers, is
idempotent, and refuses bad lines with their line numbers (exit status 1); with the `aws`
CLI: the supported countries, SearchAvailablePhoneNumbers, CreatePhoneNumberOrder polled
with GetPhoneNumberOrder until Successful, ListPhoneNumbers with filters, the calling name
(UpdateInProgress, the 7-day throttle answered ConflictException), assigning a number to a
user made with `aws chime create-user` and unassigning it, DeletePhoneNumber (refused while
assigned; then DeleteInProgress with its DeletionTimestamp), RestorePhoneNumber, the default
calling name and the global CDR settings; a porting order through Carillon's admin API
(SUBMITTED → PENDING_DOCUMENTS with its upload link → document → FOC → COMPLETED puts the
number in the inventory); another tenant's key sees none of it.

Usage: chime_phone_numbers.py --carillon PATH [--database-url URL]
"""

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time

from harness import FAILURES, Carillon, aws, carillon_call, check

NUMBERS = """e164,country,type,capabilities,city,state
+12065550100,US,Local,voice;sms,Seattle,WA
+12065550101,US,Local,voice;sms,Seattle,WA
+15035550100,US,Local,voice,Portland,OR
+442071230000,GB,Local,voice
"""

BAD = """+12065550102,US,Local,voice;sms
+1206,US,Local,voice
+12065550103,FR,Local,voice
+12065550104,US,Mobile,voice
+12065550105,US,Local,fax
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    parser.add_argument("--database-url", help="run on this metadata database instead of SQLite")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-phone-")
    server = Carillon(args.carillon, tmp, [], database_url=args.database_url)
    try:
        run(server, tmp)
    finally:
        server.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def chime(server, creds, *args, expect_error=None):
    return aws(server, creds, "chime", *args, "--region", "us-east-1", expect_error=expect_error)


def import_file(server, path):
    """Runs the import with the real binary; returns (exit status, stdout, stderr)."""
    out = subprocess.run([server.binary, "phone-numbers", "import", path, *server.store_args],
                         capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


def run(server, tmp):
    admin = os.path.join(server.data_dir, "admin-credentials")
    good = os.path.join(tmp, "numbers.csv")
    with open(good, "w") as f:
        f.write(NUMBERS)
    code, out, err = import_file(server, good)
    check(code == 0 and "4 imported, 0 updated, 0 unchanged, 0 refused" in out,
          f"the import adds the operator's numbers: {code} {out} {err}")
    code, out, _ = import_file(server, good)
    check(code == 0 and "0 imported, 0 updated, 4 unchanged" in out, f"importing again changes nothing: {out}")
    bad = os.path.join(tmp, "bad.csv")
    with open(bad, "w") as f:
        f.write(BAD)
    code, out, err = import_file(server, bad)
    check(code == 1, f"a file with bad lines exits 1: {code}")
    check("1 imported" in out and "4 refused" in out, f"good lines are imported, bad ones refused: {out}")
    for line in (2, 3, 4, 5):
        check(f"bad.csv:{line}:" in err, f"line {line} is named: {err}")
    check("bad.csv:1:" not in err, "the good line is not refused")

    countries = chime(server, admin, "list-supported-phone-number-countries",
                      "--product-type", "BusinessCalling")["PhoneNumberCountries"]
    check(sorted(c["CountryCode"] for c in countries) == ["PR", "US"],
          f"Business Calling: US and Puerto Rico (§4): {countries}")

    found = chime(server, admin, "search-available-phone-numbers", "--area-code", "206")["E164PhoneNumbers"]
    check(found == ["+12065550100", "+12065550101", "+12065550102"], f"search by area code: {found}")
    found = chime(server, admin, "search-available-phone-numbers", "--city", "Portland",
                  "--state", "OR")["E164PhoneNumbers"]
    check(found == ["+15035550100"], f"search by city and state: {found}")
    err = chime(server, admin, "search-available-phone-numbers", "--city", "Seattle", expect_error=True)
    check("BadRequestException" in err and "State" in err, f"City without State is refused: {err}")

    order = chime(server, admin, "create-phone-number-order", "--product-type", "BusinessCalling",
                  "--e164-phone-numbers", "+12065550100", "+12065550101")["PhoneNumberOrder"]
    check(order["Status"] == "Processing", f"a new order is Processing: {order}")
    order_id = order["PhoneNumberOrderId"]
    deadline = time.time() + 30
    while order["Status"] == "Processing" and time.time() < deadline:
        time.sleep(0.2)
        order = chime(server, admin, "get-phone-number-order",
                      "--phone-number-order-id", order_id)["PhoneNumberOrder"]
    check(order["Status"] == "Successful", f"the order settles Successful: {order}")
    check(all(n["Status"] == "Acquired" for n in order["OrderedPhoneNumbers"]), "each number Acquired")
    err = chime(server, admin, "create-phone-number-order", "--product-type", "BusinessCalling",
                "--e164-phone-numbers", "+442071230000", expect_error=True)
    check("BadRequestException" in err and "SipMediaApplicationDialIn" in err,
          f"international numbers only as SIP media application dial-in (§4.1): {err}")
    orders = chime(server, admin, "list-phone-number-orders")["PhoneNumberOrders"]
    check([o["PhoneNumberOrderId"] for o in orders] == [order_id], f"ListPhoneNumberOrders: {orders}")

    numbers = chime(server, admin, "list-phone-numbers")["PhoneNumbers"]
    check(sorted(n["E164PhoneNumber"] for n in numbers) == ["+12065550100", "+12065550101"]
          and all(n["Status"] == "Unassigned" for n in numbers), f"the inventory: {numbers}")
    found = chime(server, admin, "search-available-phone-numbers", "--area-code", "206")["E164PhoneNumbers"]
    check(found == ["+12065550102"], f"ordered numbers are no longer available: {found}")

    number = chime(server, admin, "update-phone-number", "--phone-number-id", "+12065550100",
                   "--calling-name", "Front Desk")["PhoneNumber"]
    check(number["CallingName"] == "Front Desk" and number["CallingNameStatus"] == "UpdateInProgress",
          f"the calling name takes 72 hours to apply: {number}")
    err = chime(server, admin, "update-phone-number", "--phone-number-id", "+12065550100",
                "--calling-name", "Reception", expect_error=True)
    check("ConflictException" in err and "7 days" in err, f"once every 7 days: {err}")
    err = chime(server, admin, "update-phone-number", "--phone-number-id", "+12065550101",
                "--calling-name", "Sixteen chars xx", expect_error=True)
    check("BadRequestException" in err, f"more than 15 characters is refused: {err}")

    account = chime(server, admin, "create-account", "--name", "Calls")["Account"]["AccountId"]
    user = chime(server, admin, "create-user", "--account-id", account, "--email", "ann@example.com",
                 "--user-type", "PrivateUser")["User"]["UserId"]
    chime(server, admin, "associate-phone-number-with-user", "--account-id", account, "--user-id", user,
          "--e164-phone-number", "+12065550100")
    number = chime(server, admin, "get-phone-number", "--phone-number-id", "+12065550100")["PhoneNumber"]
    check(number["Status"] == "Assigned"
          and {"Name": "UserId", "Value": user} in [{k: a[k] for k in ("Name", "Value")}
                                                   for a in number["Associations"]],
          f"the number is assigned to the user: {number}")
    got_user = chime(server, admin, "get-user", "--account-id", account, "--user-id", user)["User"]
    check(got_user.get("PrimaryProvisionedNumber") == "+12065550100",
          f"the user's primary provisioned number: {got_user}")
    assigned = chime(server, admin, "list-phone-numbers", "--filter-name", "UserId",
                     "--filter-value", user)["PhoneNumbers"]
    check([n["E164PhoneNumber"] for n in assigned] == ["+12065550100"], f"filter by user: {assigned}")
    err = chime(server, admin, "delete-phone-number", "--phone-number-id", "+12065550100", expect_error=True)
    check("BadRequestException" in err, f"an assigned number cannot be deleted: {err}")
    chime(server, admin, "disassociate-phone-number-from-user", "--account-id", account, "--user-id", user)
    number = chime(server, admin, "get-phone-number", "--phone-number-id", "+12065550100")["PhoneNumber"]
    check(number["Status"] == "Unassigned", f"unassigned again: {number}")

    chime(server, admin, "delete-phone-number", "--phone-number-id", "+12065550100")
    number = chime(server, admin, "get-phone-number", "--phone-number-id", "+12065550100")["PhoneNumber"]
    check(number["Status"] == "DeleteInProgress" and "DeletionTimestamp" in number,
          f"the deletion queue: {number}")
    queue = chime(server, admin, "list-phone-numbers", "--status", "DeleteInProgress")["PhoneNumbers"]
    check([n["E164PhoneNumber"] for n in queue] == ["+12065550100"], f"listed in the deletion queue: {queue}")
    number = chime(server, admin, "restore-phone-number", "--phone-number-id", "+12065550100")["PhoneNumber"]
    check(number["Status"] == "Unassigned" and "DeletionTimestamp" not in number,
          f"restored to the inventory: {number}")

    chime(server, admin, "update-phone-number-settings", "--calling-name", "Example Corp")
    settings = chime(server, admin, "get-phone-number-settings")
    check(settings.get("CallingName") == "Example Corp", f"the default calling name: {settings}")
    err = chime(server, admin, "update-phone-number-settings", "--calling-name", "Other", expect_error=True)
    check("BadRequestException" in err and "7 days" in err, f"the default calling name once every 7 days: {err}")
    chime(server, admin, "update-global-settings", "--business-calling", "CdrBucket=example-cdrs")
    glob = chime(server, admin, "get-global-settings")
    check(glob["BusinessCalling"].get("CdrBucket") == "example-cdrs", f"the CDR bucket: {glob}")

    # A port-in through Carillon's admin API.
    status, _, body = carillon_call(server, admin, "POST", "/carillon/v1/chime/porting-orders", {
        "Direction": "PortIn", "E164PhoneNumbers": ["+14255550100"], "ProductType": "BusinessCalling",
        "RequestedPortDate": "2026-12-01", "RequestedPortTime": "09:00",
        "BillingTelephoneNumber": "+14255550100", "AuthorizedName": "Jane Doe",
        "ServiceAddress": "1 Main St", "CustomerName": "Example Corp"})
    check(status == 200 and body["PortingOrder"]["Status"] == "SUBMITTED", f"port-in submitted: {status} {body}")
    porting_id = body["PortingOrder"]["PortingOrderId"]
    path = f"/carillon/v1/chime/porting-orders/{porting_id}"
    status, _, body = carillon_call(server, admin, "PUT", path + "/status", {"Status": "PENDING_DOCUMENTS"})
    link = body.get("PortingOrder", {}).get("DocumentUploadLink") or {}
    check(status == 200 and link.get("Url", "").endswith(f"{porting_id}/documents"),
          f"PENDING_DOCUMENTS opens the 10-day upload link: {status} {body}")
    status, _, body = carillon_call(server, admin, "PUT", path + "/documents/loa.pdf", {
        "ContentType": "application/pdf", "Content": base64.b64encode(b"%PDF-1.4 LOA").decode()})
    check(status == 200 and [d["Name"] for d in body["PortingOrder"]["Documents"]] == ["loa.pdf"],
          f"the LOA is uploaded: {status} {body}")
    status, _, body = carillon_call(server, admin, "GET", path + "/documents/loa.pdf")
    check(status == 200 and base64.b64decode(body["Content"]) == b"%PDF-1.4 LOA",
          f"support reads the LOA back: {status} {body.get('Document')}")
    status, _, body = carillon_call(server, admin, "PUT", path + "/status", {"Status": "COMPLETED"})
    check(status == 409, f"COMPLETED only after FOC: {status} {body}")
    carillon_call(server, admin, "PUT", path + "/status", {"Status": "FOC", "FocDate": "2026-12-01T09:00:00Z"})
    status, _, body = carillon_call(server, admin, "PUT", path + "/status", {"Status": "COMPLETED"})
    check(status == 200 and body["PortingOrder"]["Status"] == "COMPLETED", f"port-in completed: {status} {body}")
    number = chime(server, admin, "get-phone-number", "--phone-number-id", "+14255550100")["PhoneNumber"]
    check(number["Status"] == "Unassigned" and number["ProductType"] == "BusinessCalling",
          f"the ported number is in the inventory: {number}")

    # Another tenant sees none of it.
    other = os.path.join(server.data_dir, "other-credentials")
    server.cli("accounts", "create", "--name", "other", "--credentials-out", other)
    check(chime(server, other, "list-phone-numbers")["PhoneNumbers"] == [], "another tenant lists no numbers")
    check(chime(server, other, "list-phone-number-orders")["PhoneNumberOrders"] == [],
          "another tenant lists no orders")
    err = chime(server, other, "get-phone-number", "--phone-number-id", "+12065550100", expect_error=True)
    check("NotFoundException" in err, f"another tenant's number is NotFound: {err}")
    err = chime(server, other, "get-phone-number-order", "--phone-number-order-id", order_id, expect_error=True)
    check("NotFoundException" in err, f"another tenant's order is NotFound: {err}")
    err = chime(server, other, "delete-phone-number", "--phone-number-id", "+12065550101", expect_error=True)
    check("NotFoundException" in err, f"another tenant cannot delete it: {err}")
    check(chime(server, other, "get-phone-number-settings").get("CallingName") is None,
          "settings are per tenant")
    found = chime(server, other, "search-available-phone-numbers", "--area-code", "206")["E164PhoneNumbers"]
    check(found == ["+12065550102"], f"another tenant cannot order our numbers: {found}")
    status, _, _ = carillon_call(server, other, "GET", path)
    check(status == 404, f"another tenant's porting order is 404: {status}")


if __name__ == "__main__":
    main()
