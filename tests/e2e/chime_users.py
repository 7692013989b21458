#!/usr/bin/env python3
"""Chime users end to end (issue 4 points 1–2, chime-zh.md §1.2–§1.4, §2.7, §2.12) with real
clients: the `aws chime` CLI, imaplib, urllib and a DNS stub (dnslib) as the configured
resolver.

Checks: `aws chime invite-users` sends an invitation that arrives in a Carillon mailbox (read
with imaplib) naming the account, with a registration link; the link's form (GET) and
registration (POST JSON, and the urlencoded form) with a weak password refused, then
accepted once; `aws chime get-user` shows Registered / Accepted; a foreign address is Failed (no organization owns the
sender's domain to queue it); create/list (UserEmail filter, paging)/update/batch-update
users; the registered user signs in to chat, and `logout-user` ends the session; reset PIN;
user settings; a domain claimed through Carillon's admin API and verified through the DNS
stub makes an account EnterpriseLWA; a claimed-domain invitee registering joins it, and so
does a claimed-domain self sign-up (POST /chat/v1/sign-up);
`batch-suspend-user` suspends (sign-in refused) and `batch-unsuspend-user` restores;
DeleteDomain releases users; another tenant's key sees none of it.

Usage: chime_users.py --carillon PATH [--database-url postgres://…]
"""

import argparse
import email
import email.policy
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from dnslib import CNAME, MX, TXT
from dnslib.server import DNSLogger, DNSServer

from harness import (FAILURES, PASSWORD, Carillon, Zone, aws, carillon_call, check, fetch_all,
                     imap_connect, send)

DOMAIN = "acme.localhost"
# The claimed domain: the resolver answers `*.localhost` itself, so the claim needs another.
CORP = "corp.example"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    parser.add_argument("--database-url", help="PostgreSQL metadata store (default: SQLite)")
    args = parser.parse_args()
    zone = Zone()
    dns = DNSServer(zone, port=0, address="127.0.0.1",
                    logger=DNSLogger("-request,-reply,-truncated", prefix=False))
    dns.start_thread()
    dns_port = dns.server.server_address[1]
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-chime-users-")
    server = Carillon(args.carillon, tmp, ["--dns-resolver", f"127.0.0.1:{dns_port}"],
                      database_url=args.database_url)
    try:
        run(server, zone)
    finally:
        server.stop()
        dns.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def chime(server, creds, *args, expect_error=None):
    return aws(server, creds, "chime", *args, "--region", "us-east-1", expect_error=expect_error)


def mailbox_user(server, admin, org, name, domain):
    uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", name,
              "--display-name", name.title(), "--password", PASSWORD)["UserId"]
    aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
        "--entity-id", uid, "--email", f"{name}@{domain}")


def mail_domain(server, admin, org, zone, domain):
    """Registers `domain` with the organization and publishes its records in the stub."""
    aws(server, admin, "workmail", "register-mail-domain", "--organization-id", org, "--domain-name", domain)
    got = aws(server, admin, "workmail", "get-mail-domain", "--organization-id", org, "--domain-name", domain)
    for record in got["Records"]:
        name, value = record["Hostname"].rstrip("."), record["Value"]
        if record["Type"] == "TXT":
            data = value.strip('"').encode()
            zone.add(name, "TXT", TXT([data[i:i + 255] for i in range(0, len(data), 255)]))
        elif record["Type"] == "MX":
            pref, host = value.split()
            zone.add(name, "MX", MX(host, int(pref)))
        elif record["Type"] == "CNAME":
            zone.add(name, "CNAME", CNAME(value))
    got = aws(server, admin, "workmail", "get-mail-domain", "--organization-id", org, "--domain-name", domain)
    check(got["OwnershipVerificationStatus"] == "VERIFIED", f"mail domain {domain} verified")


def invitation(server, address):
    """(subject, text body) of the newest invitation in the address's INBOX, waiting for it."""
    deadline = time.time() + 30
    while True:
        imap = imap_connect(server, address)
        bodies = fetch_all(imap, "INBOX")
        imap.logout()
        found = [email.message_from_bytes(b, policy=email.policy.default) for b in bodies]
        found = [m for m in found if "Amazon Chime" in str(m["Subject"])]
        if found or time.time() > deadline:
            break
        time.sleep(0.2)
    check(bool(found), f"the invitation arrived in {address}'s mailbox")
    if not found:
        return "", ""
    message = found[-1]
    return str(message["Subject"]), message.get_body(preferencelist=("plain",)).get_content()


def get_html(url):
    try:
        with urllib.request.urlopen(url) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def post_json(url, body, headers=None):
    return send("POST", url, json.dumps(body).encode(),
                {"Content-Type": "application/json", **(headers or {})})


def register(server, link, password, name):
    token = link.split("token=", 1)[1]
    return post_json(server.endpoint + "/chat/v1/register",
                     {"Token": token, "Password": password, "DisplayName": name})


def post_form(server, link, password, name):
    """Posts the registration form as a browser does; returns (status, HTML)."""
    data = urllib.parse.urlencode({"token": link.split("token=", 1)[1], "password": password,
                                   "display_name": name}).encode()
    req = urllib.request.Request(server.endpoint + "/chat/v1/register", data=data, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sign_in(server, address, password):
    return post_json(server.endpoint + "/chat/v1/sign-in", {"Email": address, "Password": password})


def run(server, zone):
    admin = os.path.join(server.data_dir, "admin-credentials")
    org = aws(server, admin, "workmail", "create-organization", "--alias", "acme")["OrganizationId"]
    mail_domain(server, admin, org, zone, CORP)
    mailbox_user(server, admin, org, "mary", DOMAIN)
    mailbox_user(server, admin, org, "olga", CORP)
    mailbox_user(server, admin, org, "carl", CORP)

    team = chime(server, admin, "create-account", "--name", "E2E Team")["Account"]["AccountId"]
    invites = chime(server, admin, "invite-users", "--account-id", team, "--user-email-list",
                    f"mary@{DOMAIN}", "nobody@foreign.example")["Invites"]
    by_address = {i["EmailAddress"]: i for i in invites}
    check(by_address[f"mary@{DOMAIN}"]["Status"] == "Pending"
          and by_address[f"mary@{DOMAIN}"]["EmailStatus"] == "Sent",
          f"the local invitation is sent and pending: {invites}")
    check(by_address["nobody@foreign.example"]["Status"] == "Failed",
          f"a foreign invitation cannot be queued without an organization for the sender: {invites}")

    subject, text = invitation(server, f"mary@{DOMAIN}")
    check("E2E Team" in subject and "E2E Team" in text, f"the invitation names the account: {subject}")
    links = re.findall(r"https?://\S+/chat/v1/register\?token=[A-Za-z0-9_-]+", text)
    check(len(links) == 1, f"the invitation carries one registration link: {text}")
    link = links[0] if links else server.endpoint + "/chat/v1/register?token=missing"
    check(link.startswith(server.endpoint), f"the link points at this server: {link}")

    mary = chime(server, admin, "list-users", "--account-id", team, "--user-email",
                 f"mary@{DOMAIN}")["Users"][0]
    check(mary["UserRegistrationStatus"] == "Unregistered" and mary["UserInvitationStatus"] == "Pending",
          f"the invitee is Unregistered with a pending invitation: {mary}")

    status, page = get_html(link)
    check(status == 200 and "<form" in page and f"mary@{DOMAIN}" in page,
          f"the link answers the registration form ({status})")
    status, _ = get_html(server.endpoint + "/chat/v1/register?token=nope")
    check(status == 404, f"an unknown link is 404 ({status})")
    status, _, body = register(server, link, "short", "Mary Major")
    check(status == 400 and "8 characters" in body.get("Message", ""), f"a weak password is 400: {body}")
    status, _, body = register(server, link, "correct horse", "Mary Major")
    check(status == 200 and body.get("UserId") == mary["UserId"], f"registration succeeds: {status} {body}")
    status, _, body = register(server, link, "correct horse", "Mary Major")
    check(status == 400 and "already used" in body.get("Message", ""), f"the link works once: {body}")

    got = chime(server, admin, "get-user", "--account-id", team, "--user-id", mary["UserId"])["User"]
    check(got["UserRegistrationStatus"] == "Registered", f"get-user shows Registered: {got}")
    check(got["UserInvitationStatus"] == "Accepted" and got["LicenseType"] == "Pro"
          and got.get("RegisteredOn") and got["DisplayName"] == "Mary Major",
          f"accepted, Pro, registered on a date, named: {got}")

    # Chat sign-in, then LogoutUser revokes the session.
    status, _, session = sign_in(server, f"mary@{DOMAIN}", "correct horse")
    check(status == 200 and session.get("SessionToken"), f"the registered user signs in: {status} {session}")
    bearer = {"Authorization": f"Bearer {session.get('SessionToken', '')}"}
    status, _, _ = send("GET", server.endpoint + "/chat/v1/me", headers=bearer)
    check(status == 200, f"the session works ({status})")
    chime(server, admin, "logout-user", "--account-id", team, "--user-id", mary["UserId"])
    status, _, _ = send("GET", server.endpoint + "/chat/v1/me", headers=bearer)
    check(status == 401, f"logout-user revoked the session ({status})")

    pin = chime(server, admin, "reset-personal-pin", "--account-id", team, "--user-id",
                mary["UserId"])["User"]["PersonalPIN"]
    check(re.fullmatch(r"\d{10}", pin) and pin != got["PersonalPIN"], f"a new 10-digit PIN: {pin}")

    chime(server, admin, "update-user-settings", "--account-id", team, "--user-id", mary["UserId"],
          "--user-settings", "Telephony={InboundCalling=true,OutboundCalling=false,SMS=false}")
    telephony = chime(server, admin, "get-user-settings", "--account-id", team, "--user-id",
                      mary["UserId"])["UserSettings"]["Telephony"]
    check(telephony == {"InboundCalling": True, "OutboundCalling": False, "SMS": False},
          f"user settings are kept: {telephony}")

    # Create, list (filters and paging), update.
    for name in ("ann", "ben"):
        user = chime(server, admin, "create-user", "--account-id", team, "--email",
                     f"{name}@elsewhere.example", "--username", name.title())["User"]
        check(user["UserRegistrationStatus"] == "Unregistered", f"created user is Unregistered: {user}")
    err = chime(server, admin, "create-user", "--account-id", team, "--email", f"mary@{DOMAIN}",
                expect_error=True)
    check("ConflictException" in err, f"an address has one identity: {err}")
    listed = chime(server, admin, "list-users", "--account-id", team, "--page-size", "1")["Users"]
    check(len(listed) == 4, f"the CLI pages through the four users one at a time: {len(listed)}")
    ann = [u for u in listed if u["PrimaryEmail"] == "ann@elsewhere.example"][0]
    updated = chime(server, admin, "update-user", "--account-id", team, "--user-id", ann["UserId"],
                    "--license-type", "Basic")["User"]
    check(updated["LicenseType"] == "Basic", f"update-user assigns Basic: {updated}")
    errors = chime(server, admin, "batch-update-user", "--account-id", team, "--update-user-request-items",
                   f"UserId={ann['UserId']},LicenseType=Pro", "UserId=nobody,LicenseType=Pro")["UserErrors"]
    check([e["ErrorCode"] for e in errors] == ["NotFound"], f"per-user errors in the batch: {errors}")
    err = chime(server, admin, "update-user", "--account-id", team, "--user-id", ann["UserId"],
                "--license-type", "ProTrial", expect_error=True)
    check("BadRequestException" in err, f"ProTrial cannot be assigned: {err}")

    # Enterprise: a domain claimed and verified through the DNS stub.
    corp = chime(server, admin, "create-account", "--name", "E2E Corp")["Account"]["AccountId"]
    path = f"/carillon/v1/chime/accounts/{corp}/domains"
    status, _, claimed = carillon_call(server, admin, "POST", path, {"DomainName": CORP})
    check(status == 200 and claimed["Domain"]["Status"] == "PendingVerification",
          f"ClaimDomain answers a pending claim: {status} {claimed}")
    status, _, again = carillon_call(server, admin, "POST", path, {"DomainName": CORP})
    check(status == 409 and again.get("Code") == "ConflictException", f"a duplicate claim conflicts: {again}")
    record = claimed["Domain"]["VerificationRecord"]
    zone.add(record["Name"], "TXT", TXT(record["Value"]))
    status, _, verified = carillon_call(server, admin, "GET", f"{path}/{CORP}")
    check(status == 200 and verified["Domain"]["Status"] == "Verified",
          f"GetDomain verifies through the configured resolver: {verified}")
    account = chime(server, admin, "get-account", "--account-id", corp)["Account"]
    check(account["AccountType"] == "EnterpriseLWA", f"the first verified domain makes it Enterprise: {account}")
    status, _, listed_domains = carillon_call(server, admin, "GET", path)
    check(status == 200 and [d["DomainName"] for d in listed_domains["Domains"]] == [CORP],
          f"ListDomains: {listed_domains}")

    chime(server, admin, "invite-users", "--account-id", corp, "--user-email-list", f"olga@{CORP}")
    _, text = invitation(server, f"olga@{CORP}")
    olga_link = (re.findall(r"https?://\S+/chat/v1/register\?token=[A-Za-z0-9_-]+", text) or ["x?token=x"])[0]
    # This one registers through the HTML form (urlencoded, as a browser posts it).
    status, page = post_form(server, olga_link, "short", "Olga")
    check(status == 400 and "8 characters" in page, f"the form refuses a weak password ({status})")
    status, page = post_form(server, olga_link, "olga's password", "Olga")
    check(status == 200 and "E2E Corp" in page, f"the claimed-domain user registers and joins Corp ({status})")
    olga = chime(server, admin, "list-users", "--account-id", corp, "--user-email", f"olga@{CORP}")["Users"][0]
    status, _, _ = sign_in(server, f"olga@{CORP}", "olga's password")
    check(status == 200, f"the Enterprise user signs in ({status})")

    errors = chime(server, admin, "batch-suspend-user", "--account-id", corp, "--user-id-list",
                   olga["UserId"], "nobody")["UserErrors"]
    check([e["ErrorCode"] for e in errors] == ["NotFound"], f"suspension reports the unknown user: {errors}")
    got = chime(server, admin, "get-user", "--account-id", corp, "--user-id", olga["UserId"])["User"]
    check(got["UserRegistrationStatus"] == "Suspended", f"the user is Suspended: {got}")
    status, _, body = sign_in(server, f"olga@{CORP}", "olga's password")
    check(status != 200, f"a suspended user cannot sign in: {status} {body}")
    chime(server, admin, "batch-unsuspend-user", "--account-id", corp, "--user-id-list", olga["UserId"])
    status, _, _ = sign_in(server, f"olga@{CORP}", "olga's password")
    check(status == 200, f"unsuspended, the user signs in again ({status})")

    # Signing up with a claimed address: added to Corp at once, registered from the link.
    status, _, body = post_json(server.endpoint + "/chat/v1/sign-up", {"Email": f"carl@{CORP}"})
    check(status == 202 and body.get("Status") == "Sent", f"sign-up mails a link: {status} {body}")
    carl = chime(server, admin, "list-users", "--account-id", corp, "--user-email", f"carl@{CORP}")["Users"]
    check(len(carl) == 1 and carl[0]["UserRegistrationStatus"] == "Unregistered",
          f"the claimed-domain sign-up is in Corp at once: {carl}")
    subject, text = invitation(server, f"carl@{CORP}")
    check("sign-up" in subject, f"the sign-up confirmation arrived: {subject}")
    carl_link = (re.findall(r"https?://\S+/chat/v1/register\?token=[A-Za-z0-9_-]+", text) or ["x?token=x"])[0]
    status, _, body = register(server, carl_link, "carl's password", "Carl")
    check(status == 200 and body.get("AccountId") == corp, f"the sign-up registers into Corp: {body}")
    status, _, body = post_json(server.endpoint + "/chat/v1/sign-up", {"Email": f"carl@{CORP}"})
    check(status == 409, f"a registered address cannot sign up again: {status} {body}")

    # Another tenant's key sees none of it.
    other = os.path.join(server.data_dir, "other-credentials")
    server.cli("accounts", "create", "--name", "other", "--credentials-out", other)
    err = chime(server, other, "get-user", "--account-id", team, "--user-id", mary["UserId"], expect_error=True)
    check("NotFoundException" in err, f"another tenant cannot read the user: {err}")
    err = chime(server, other, "list-users", "--account-id", corp, expect_error=True)
    check("NotFoundException" in err, f"another tenant cannot list the users: {err}")
    status, _, body = carillon_call(server, other, "GET", f"{path}/{CORP}")
    check(status == 404, f"another tenant cannot read the claim: {status} {body}")
    check(chime(server, other, "list-accounts", "--user-email", f"mary@{DOMAIN}")["Accounts"] == [],
          "another tenant finds no account by the user's address")
    mine = chime(server, admin, "list-accounts", "--user-email", f"mary@{DOMAIN}")["Accounts"]
    check([a["AccountId"] for a in mine] == [team], f"ListAccounts by UserEmail finds the user's account: {mine}")

    # Removing the domain releases its users; then the account can be deleted.
    err = chime(server, admin, "delete-account", "--account-id", corp, expect_error=True)
    check("UnprocessableEntityException" in err, f"an Enterprise account with a domain cannot be deleted: {err}")
    status, _, _ = carillon_call(server, admin, "DELETE", f"{path}/{CORP}")
    check(status == 200, f"DeleteDomain ({status})")
    got = chime(server, admin, "get-user", "--account-id", corp, "--user-id", olga["UserId"])["User"]
    check(got["UserRegistrationStatus"] == "Released", f"the registered user is Released: {got}")
    status, _, _ = sign_in(server, f"olga@{CORP}", "olga's password")
    check(status != 200, f"a released user cannot sign in ({status})")
    chime(server, admin, "delete-account", "--account-id", corp)


if __name__ == "__main__":
    main()
