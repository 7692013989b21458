#!/usr/bin/env python3
"""Chime bots and incoming webhooks end to end (issue 4 points 5 and 6, chime-zh.md §1.16–§1.18,
§2.18, §3.2, §3.3) with clients nobody here wrote: the `aws chime` CLI (and boto3 for the 50
extra room members), Carillon's admin API for domains and webhooks (SigV4 service `carillon`), a
chat user registered from her invitation email (read from her Carillon mailbox with imaplib)
and signed in over the chat REST API, and a bot written with the standard library (http.server + ssl, a
certificate made with the openssl CLI and given to Carillon with --trusted-ca-file) that checks
Chime-Signature itself.

Checks: the domain claim verified through the DNS stub makes the account Enterprise; CreateBot
gives `<name>-chimebot@<domain>` and a SecurityToken; a Lambda ARN is refused; the endpoint
answers the signed verification challenge; adding the bot to a room sends it a signed Invite;
the user's @mention reaches it as a signed Mention with a short-lived reply URL, and the bot's
reply through that URL appears in the room's history as the bot's; removing the bot sends a
signed Remove. Webhooks: the message shows "<name> (Webhook)"; 11th webhook
ResourceLimitExceededException; 2 posts in a second 429; over 4 KB 413; @All in a room of 51
members 400; wrong token 403; regenerated URL 404; deleted webhook 404; another tenant's key
sees neither bots nor webhooks.

Usage: chime_bots.py --carillon PATH [--database-url postgres://…]
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config
from dnslib import TXT
from dnslib.server import DNSLogger, DNSServer

from harness import PASSWORD as HARNESS_PASSWORD
from harness import (FAILURES, Carillon, Zone, aws, carillon_call, check, credentials, fetch_all,
                     imap_connect, send)

# The claimed domain of the bots; the users' mailboxes are in the organization's default domain.
DOMAIN = "bots.example.test"
MAIL_ALIAS = "botco"
MAIL_DOMAIN = f"{MAIL_ALIAS}.localhost"
PASSWORD = "correct horse battery"


class Bot:
    """The HTTPS bot: verifies every request's Chime-Signature with its SecurityToken, echoes
    the verification challenge, keeps each event, and answers a Mention through its reply URL."""

    def __init__(self, cert, key):
        self.token = None
        self.events = []
        self.bad_signatures = 0
        self.replies = []
        self.arrived = threading.Condition()
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                timestamp = self.headers.get("Chime-Request-Timestamp", "")
                expected = base64.b64encode(hmac.new(bot.token.encode(), timestamp.encode() + b"|" + body,
                                                     hashlib.sha256).digest()).decode()
                if not hmac.compare_digest(expected, self.headers.get("Chime-Signature", "")):
                    bot.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                event = json.loads(body)
                answer = b"{}"
                if event.get("EventType") == "HTTPSEndpointVerification":
                    answer = json.dumps({"Challenge": event["Challenge"]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                with bot.arrived:
                    bot.events.append(event)
                    bot.arrived.notify_all()
                if event.get("EventType") == "Mention":
                    # Reply after answering, as a bot doing work would.
                    url = event["InboundHttpsEndpoint"]["Url"]
                    threading.Thread(target=bot.reply, args=(url, "Status: all green"), daemon=True).start()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://localhost:{self.server.server_address[1]}/chime-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, url, content):
        status, _, body = send("POST", url, json.dumps({"Content": content}).encode(),
                               {"Content-Type": "application/json"})
        with self.arrived:
            self.replies.append((status, body))
            self.arrived.notify_all()

    def wait(self, what, timeout=10):
        deadline = time.time() + timeout
        with self.arrived:
            while not what() and time.time() < deadline:
                self.arrived.wait(timeout=0.2)
        return what()

    def of_type(self, kind):
        return [e for e in self.events if e.get("EventType") == kind]


def make_certificate(tmp):
    cert, key = os.path.join(tmp, "bot-cert.pem"), os.path.join(tmp, "bot-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-addext", "extendedKeyUsage=serverAuth",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    parser.add_argument("--database-url", help="PostgreSQL metadata store (default: SQLite)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-chime-bots-")
    cert, key = make_certificate(tmp)
    bot = Bot(cert, key)
    zone = Zone()
    dns = DNSServer(zone, port=0, address="127.0.0.1",
                    logger=DNSLogger("-request,-reply,-truncated", prefix=False))
    dns.start_thread()
    extra = ["--trusted-ca-file", cert, "--dns-resolver", f"127.0.0.1:{dns.server.server_address[1]}"]
    server = Carillon(args.carillon, os.path.join(tmp, "data"), extra, database_url=args.database_url)
    try:
        run(server, zone, bot)
    finally:
        server.stop()
        dns.stop()
        bot.server.shutdown()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def chime(server, creds, *args, expect_error=None):
    return aws(server, creds, "chime", *args, "--region", "us-east-1", expect_error=expect_error)


def call(server, creds, method, path, body=None):
    return carillon_call(server, creds, method, path, body)


def chat(server, method, path, session=None, body=None):
    headers = {"Content-Type": "application/json"}
    if session:
        headers["Authorization"] = f"Bearer {session}"
    data = json.dumps(body).encode() if body is not None else b""
    return send(method, server.endpoint + path, data, headers)


def registered_user(server, admin, account_id, name):
    """A Carillon mailbox `name`@MAIL_DOMAIN invited into the Chime account, registered from
    the link of the invitation read over IMAP, and signed in; (email, user ID, session)."""
    address = f"{name}@{MAIL_DOMAIN}"
    org = aws(server, admin, "workmail", "create-organization", "--alias", MAIL_ALIAS)["OrganizationId"]
    uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", name,
              "--display-name", name.title(), "--password", HARNESS_PASSWORD)["UserId"]
    aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
        "--entity-id", uid, "--email", address)
    chime(server, admin, "invite-users", "--account-id", account_id, "--user-email-list", address)
    links = []
    deadline = time.time() + 30
    while not links and time.time() < deadline:
        imap = imap_connect(server, address)
        bodies = fetch_all(imap, "INBOX")
        imap.logout()
        for body in bodies:
            text = body.decode(errors="replace").replace("=\r\n", "").replace("=3D", "=")
            links += re.findall(r"https?://[^\s\"<>]+/chat/v1/register\?token=[A-Za-z0-9_-]+", text)
        if not links:
            time.sleep(0.2)
    check(bool(links), f"the invitation to {address} arrives with its registration link")
    token = links[-1].split("token=", 1)[-1] if links else "missing"
    status, _, body = chat(server, "POST", "/chat/v1/register",
                           body={"Token": token, "Password": PASSWORD, "DisplayName": name.title()})
    check(status == 200, f"{name} registers from the link: {status} {body}")
    status, _, signed = chat(server, "POST", "/chat/v1/sign-in", body={"Email": address, "Password": PASSWORD})
    check(status == 200 and signed.get("SessionToken"), f"{name} signs in: {status} {signed}")
    return address, signed.get("UserId", ""), signed.get("SessionToken", "")


def run(server, zone, bot):
    admin = os.path.join(server.data_dir, "admin-credentials")
    account_id = chime(server, admin, "create-account", "--name", "Bot Co")["Account"]["AccountId"]
    alice_email, alice, session = registered_user(server, admin, account_id, "alice")

    # The verified domain claim makes the account Enterprise (bots need one, §1.16).
    team_bot = chime(server, admin, "create-bot", "--account-id", account_id, "--display-name", "early",
                     "--domain", DOMAIN, expect_error=True)
    check("ForbiddenException" in team_bot, f"a Team account gets no bot: {team_bot.strip()}")
    status, _, claim = call(server, admin, "POST", f"/carillon/v1/chime/accounts/{account_id}/domains",
                            {"DomainName": DOMAIN})
    check(status in (200, 201), f"ClaimDomain ({status} {claim})")
    record = claim.get("Domain", claim).get("VerificationRecord", {})
    zone.add(record.get("Name", ""), "TXT", TXT(record.get("Value", "")))
    status, _, got = call(server, admin, "GET", f"/carillon/v1/chime/accounts/{account_id}/domains/{DOMAIN}")
    check(status == 200 and "Verified" in json.dumps(got), f"the domain is verified through DNS: {got}")
    account = chime(server, admin, "get-account", "--account-id", account_id)["Account"]
    check(account["AccountType"] != "Team", f"the account is Enterprise: {account['AccountType']}")

    # CreateBot and its events configuration.
    created = chime(server, admin, "create-bot", "--account-id", account_id, "--display-name", "statusBot",
                    "--domain", DOMAIN)["Bot"]
    check(created["BotEmail"] == f"statusBot-chimebot@{DOMAIN}", f"bot email: {created['BotEmail']}")
    check(created["BotType"] == "ChatBot" and created["Disabled"] is False, "an enabled ChatBot")
    bot.token = created["SecurityToken"]
    bot_id = created["BotId"]
    lambda_error = chime(server, admin, "put-events-configuration", "--account-id", account_id, "--bot-id",
                         bot_id, "--lambda-function-arn",
                         "arn:aws:lambda:us-east-1:111122223333:function:f", expect_error=True)
    check("BadRequestException" in lambda_error and "Lambda" in lambda_error,
          f"a Lambda ARN is refused: {lambda_error.strip()}")
    # awscli v1 fetches a parameter that starts with https:// (paramfile); the URL is given
    # inside --cli-input-json, which it takes as it is.
    configured = chime(server, admin, "put-events-configuration", "--cli-input-json", json.dumps(
        {"AccountId": account_id, "BotId": bot_id, "OutboundEventsHTTPSEndpoint": bot.url}))["EventsConfiguration"]
    check(configured["OutboundEventsHTTPSEndpoint"] == bot.url, "the HTTPS endpoint is configured")
    check(len(bot.of_type("HTTPSEndpointVerification")) == 1 and bot.bad_signatures == 0,
          "the bot answered one signed verification challenge")
    got = chime(server, admin, "get-events-configuration", "--account-id", account_id, "--bot-id", bot_id)
    check(got["EventsConfiguration"]["OutboundEventsHTTPSEndpoint"] == bot.url, "GetEventsConfiguration")

    # A room with alice (administrator) and the bot: Invite.
    room = chime(server, admin, "create-room", "--account-id", account_id, "--name", "Ops")["Room"]["RoomId"]
    chime(server, admin, "create-room-membership", "--account-id", account_id, "--room-id", room,
          "--member-id", alice, "--role", "Administrator")
    chime(server, admin, "create-room-membership", "--account-id", account_id, "--room-id", room,
          "--member-id", created["BotEmail"])
    check(bot.wait(lambda: bot.of_type("Invite")), "the bot receives Invite when added to the room")
    invite = (bot.of_type("Invite") or [{}])[0]
    check(invite.get("Discussion") == {"DiscussionId": room, "DiscussionType": "Room"}, f"Invite: {invite}")
    check(invite.get("InboundHttpsEndpoint", {}).get("EndpointType") == "Persistent",
          "Invite carries the persistent reply URL")

    # alice @mentions the bot; the signed Mention arrives; the bot's reply is in the room.
    status, _, _ = chat(server, "POST", f"/chat/v1/rooms/{room}/messages", session,
                        {"Content": "@statusBot how are the servers?"})
    check(status in (200, 201), f"alice posts the mention ({status})")
    check(bot.wait(lambda: bot.of_type("Mention")), "the bot receives Mention")
    mention = (bot.of_type("Mention") or [{}])[0]
    check(mention.get("Sender") == {"SenderId": alice_email, "SenderIdType": "EmailId"}, f"Mention sender: {mention}")
    check(mention.get("Message") == "@statusBot how are the servers?", "Mention carries the message")
    check(mention.get("InboundHttpsEndpoint", {}).get("EndpointType") == "ShortLived", "a short-lived reply URL")
    check(bot.bad_signatures == 0, "every request to the bot had a valid Chime-Signature")
    check(bot.wait(lambda: bot.replies), "the bot replied")
    check(bot.replies and bot.replies[0][0] == 200, f"the reply URL accepted the reply: {bot.replies}")
    status, _, history = chat(server, "GET", f"/chat/v1/rooms/{room}/messages", session)
    replies = [m for m in history.get("Messages", []) if m.get("SenderType") == "Bot"]
    check(status == 200 and replies and replies[0]["Content"] == "Status: all green"
          and replies[0]["SenderName"] == "statusBot", f"alice sees the bot's reply: {history}")

    # Another tenant's key sees none of it.
    other = make_tenant(server)
    foreign = chime(server, other, "get-bot", "--account-id", account_id, "--bot-id", bot_id, expect_error=True)
    check("NotFoundException" in foreign, "another tenant cannot read the bot")

    # Removing the bot: Remove.
    chime(server, admin, "delete-room-membership", "--account-id", account_id, "--room-id", room,
          "--member-id", created["UserId"])
    check(bot.wait(lambda: bot.of_type("Remove")), "the bot receives Remove when removed")
    check("InboundHttpsEndpoint" not in (bot.of_type("Remove") or [{}])[0], "Remove has no reply URL")

    webhooks(server, admin, other, account_id, room, session)


def make_tenant(server):
    """A second tenant's credentials file."""
    path = os.path.join(server.data_dir, "other-credentials")
    server.cli("accounts", "create", "--name", "other-tenant", "--credentials-out", path)
    return path


def webhooks(server, admin, other, account_id, room, session):
    base = f"/carillon/v1/chime/accounts/{account_id}/rooms/{room}/webhooks"
    status, _, created = call(server, admin, "POST", base, {"Name": "CI"})
    check(status in (200, 201), f"CreateWebhook ({status} {created})")
    hook = created["Webhook"]
    url = hook["Url"]

    def post(target, content):
        return send("POST", target, json.dumps({"Content": content}).encode(),
                    {"Content-Type": "application/json"})[0]

    check(post(url, "Build **passed** :+1:") == 200, "a webhook post is accepted")
    check(post(url, "too soon") == 429, "a second post within a second is 429")
    time.sleep(1.1)
    check(post(url, "x" * 5000) == 413, "a post over 4 KB is 413")
    status, _, history = chat(server, "GET", f"/chat/v1/rooms/{room}/messages", session)
    shown = [m["SenderName"] for m in history.get("Messages", []) if m.get("SenderType") == "Webhook"]
    check(shown == ["CI (Webhook)"], f"the message shows 'CI (Webhook)': {shown}")

    for n in range(2, 11):
        call(server, admin, "POST", base, {"Name": f"hook {n}"})
    status, _, limit = call(server, admin, "POST", base, {"Name": "eleventh"})
    check(status == 400 and "ResourceLimitExceeded" in json.dumps(limit), f"the 11th webhook: {status} {limit}")
    status, _, listed = call(server, admin, "GET", base, {})
    check(status == 200 and len(listed.get("Webhooks", [])) == 10, "ListWebhooks lists 10")
    status, _, foreign = call(server, other, "GET", base, {})
    check(status == 404, f"another tenant cannot list the webhooks ({status})")

    # @All in a room of 51 members.
    client = boto3.client("chime", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id=credentials(admin)[0], aws_secret_access_key=credentials(admin)[1],
                          config=Config(retries={"max_attempts": 1}))
    members = []
    for n in range(50):
        user = client.create_user(AccountId=account_id, Email=f"member{n}@{DOMAIN}", UserType="PrivateUser")
        members.append(user["User"]["UserId"])
    client.batch_create_room_membership(AccountId=account_id, RoomId=room,
                                        MembershipItemList=[{"MemberId": m, "Role": "Member"} for m in members])
    time.sleep(1.1)
    check(post(url, "@All deploy at noon") == 400, "@All in a room of 51 members is 400")
    check(post(url, "@Present deploy at noon") == 400, "@Present in a room of 51 members is 400")

    parsed = urllib.parse.urlparse(url)
    wrong = f"{parsed.scheme}://{parsed.netloc}{parsed.path}?token=wrong"
    check(post(wrong, "x") == 403, "a wrong token is 403")
    status, _, regenerated = call(server, admin, "POST", f"{base}/{hook['WebhookId']}/url")
    check(status == 200 and regenerated["Webhook"]["Url"] != url, "RegenerateWebhookUrl gives a new URL")
    check(post(url, "old url") == 404, "the old URL after regeneration is 404")
    new_url = regenerated["Webhook"]["Url"]
    time.sleep(1.1)
    check(post(new_url, "new url") == 200, "the new URL posts")
    status, _, _ = call(server, admin, "DELETE", f"{base}/{hook['WebhookId']}")
    check(status == 200, f"DeleteWebhook ({status})")
    time.sleep(1.1)
    check(post(new_url, "deleted") == 404, "a deleted webhook's URL is 404")


if __name__ == "__main__":
    main()
