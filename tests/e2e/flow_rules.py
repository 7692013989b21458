#!/usr/bin/env python3
"""Email flow rules and SMTP gateways end to end (issue 3 point 3, workmail.md §2.8, §2.9),
driven by clients nobody here wrote: the organization through the `aws` CLI, rules and
gateways through Carillon's own admin API (SigV4 service `carillon`, signed by botocore),
mail in with smtplib (MX and submission), mailboxes read with imaplib. aiosmtpd stands in for
the remote MX (smarthost) and for an SMTP gateway speaking STARTTLS with a certificate of a
test CA (given to Carillon with --trusted-ca-file) and AUTH PLAIN/LOGIN.

Checks: every inbound action (Drop, Bounce, Deliver to junk, Default — a DMARC quarantine
still goes to Junk —, Never deliver to junk) and every outbound action (Default, Drop,
Bounce, Route to SMTP gateway, and an unreachable gateway bouncing to the sender); the
Sender header matched before From; per-recipient rules; precedence on overlapping patterns
(most specific sender pattern, then most restrictive action); TestEmailFlowRules answering
what really happened; a removed rule no longer applying; RULE_APPLIED in the event log; the
gateway password never returned; bad input answered with the model's error codes naming the
member.

Usage: flow_rules.py --carillon PATH [--database-url postgres://…]
"""

import argparse
import email
import email.policy
import json
import os
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from dnslib import TXT
from dnslib.server import DNSLogger, DNSServer

from harness import (FAILURES, PASSWORD, Carillon, Collector, Zone, aws, carillon_call, check, fetch_all,
                     free_port, imap_connect, send)

ALIAS = "flows"
DOMAIN = f"{ALIAS}.localhost"
ACCOUNT = "111122223333"
GATEWAY_USER = "relay-user"
GATEWAY_PASSWORD = "Gateway-Pa55!"


class Gateway(Collector):
    """The SMTP gateway's handler: keeps messages and the AUTH mechanisms used."""

    def __init__(self):
        super().__init__()
        self.logins = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == GATEWAY_USER
              and auth_data.password.decode() == GATEWAY_PASSWORD)
        tls = (session.ssl or {}).get("ssl_object")
        version = tls.version() if tls else None
        with self.lock:
            self.logins.append((mechanism, ok, version))
        return AuthResult(success=ok)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


def make_certificates(tmp):
    """A test CA and a gateway certificate it signs for IP 127.0.0.1 (openssl CLI)."""
    ca_key, ca = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.pem")
    key, csr, cert = (os.path.join(tmp, n) for n in ("gw.key", "gw.csr", "gw.pem"))
    ext = os.path.join(tmp, "gw.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
        "-subj", "/CN=Carillon test gateway CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", ext)
    return ca, cert, key


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    parser.add_argument("--database-url", help="PostgreSQL metadata store (default: SQLite)")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="carillon-e2e-flowrules-")
    zone = Zone()
    zone.add("shady.test", "TXT", TXT("v=spf1 ip4:192.0.2.1 -all"))
    zone.add("_dmarc.shady.test", "TXT", TXT("v=DMARC1; p=quarantine"))
    dns = DNSServer(zone, port=0, address="127.0.0.1", logger=DNSLogger("-request,-reply,-truncated", prefix=False))
    dns.start_thread()
    collector = Collector()
    peer_port = free_port()
    peer = Controller(collector, hostname="127.0.0.1", port=peer_port)
    peer.start()
    ca, cert, key = make_certificates(tmp)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(cert, key)
    gateway = Gateway()
    gateway_port = free_port()
    gw = Controller(gateway, hostname="127.0.0.1", port=gateway_port, tls_context=tls, require_starttls=True,
                    authenticator=gateway.authenticate, auth_require_tls=True)
    gw.start()
    extra = ["--dns-resolver", f"127.0.0.1:{dns.server.server_address[1]}",
             "--smarthost", f"127.0.0.1:{peer_port}", "--trusted-ca-file", ca]
    server = Carillon(args.carillon, os.path.join(tmp, "data"), extra, database_url=args.database_url)
    try:
        run(server, collector, gateway, gateway_port)
    finally:
        server.stop()
        peer.stop()
        gw.stop()
        dns.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def wait_for(what, predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    return predicate()


def run(server, collector, gateway, gateway_port):
    admin = os.path.join(server.data_dir, "admin-credentials")
    org = aws(server, admin, "workmail", "create-organization", "--alias", ALIAS)["OrganizationId"]
    for name in ("alice", "bob"):
        uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", name,
                  "--display-name", name.title(), "--password", PASSWORD)["UserId"]
        aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
            "--entity-id", uid, "--email", f"{name}@{DOMAIN}")
    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/workmail/emailevents/{ALIAS}:*"
    aws(server, admin, "workmail", "put-email-monitoring-configuration", "--organization-id", org,
        "--log-group-arn", group, "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/logs")

    base = f"/carillon/v1/organizations/{org}"

    def call(method, path, body=None):
        return carillon_call(server, admin, method, base + path, body)

    # --- The OpenAPI document ------------------------------------------------------------
    status, _, doc = send("GET", server.endpoint + "/carillon/v1/openapi.json")
    ops = {op["operationId"] for path in doc.get("paths", {}).values() for op in path.values()}
    for name in ("CreateEmailFlowRule", "UpdateEmailFlowRule", "DeleteEmailFlowRule", "GetEmailFlowRule",
                 "ListEmailFlowRules", "TestEmailFlowRules", "CreateSmtpGateway", "GetSmtpGateway",
                 "ListSmtpGateways", "UpdateSmtpGateway", "DeleteSmtpGateway"):
        check(name in ops, f"OpenAPI document lists {name}")

    # --- SMTP gateways --------------------------------------------------------------------
    status, _, body = call("POST", "/smtp-gateways", {
        "Name": "relay", "Address": "127.0.0.1", "Port": gateway_port,
        "Username": GATEWAY_USER, "Password": GATEWAY_PASSWORD})
    check(status == 200 and body.get("SmtpGatewayId", "").startswith("gw-"), f"CreateSmtpGateway ({status} {body})")
    relay = body.get("SmtpGatewayId")
    status, _, body = call("POST", "/smtp-gateways", {
        "Name": "dead", "Address": "127.0.0.1", "Port": free_port(),
        "Username": GATEWAY_USER, "Password": GATEWAY_PASSWORD})
    dead = body.get("SmtpGatewayId")
    status, _, body = call("GET", f"/smtp-gateways/{relay}")
    check(status == 200 and body.get("Name") == "relay" and "Password" not in body
          and GATEWAY_PASSWORD not in json.dumps(body), f"GetSmtpGateway never returns the password ({body})")
    status, _, body = call("GET", "/smtp-gateways")
    check(status == 200 and sorted(g["Name"] for g in body.get("SmtpGateways", [])) == ["dead", "relay"]
          and GATEWAY_PASSWORD not in json.dumps(body), f"ListSmtpGateways ({body})")
    status, _, body = call("POST", "/smtp-gateways", {
        "Name": "weak", "Address": "127.0.0.1", "Port": 25, "Username": "u", "Password": "short"})
    check(status == 400 and body.get("Code") == "InvalidPasswordException" and "Password" in body.get("Message", ""),
          f"a weak gateway password is refused ({status} {body})")

    # --- Rules ------------------------------------------------------------------------------
    def rule(name, direction, action, senders, destinations, **extra):
        body = {"Name": name, "Direction": direction, "Action": action,
                "SenderPatterns": senders, "DestinationPatterns": destinations, **extra}
        status, _, out = call("POST", "/email-flow-rules", body)
        check(status == 200, f"CreateEmailFlowRule {name} ({status} {out})")

    rule("drop-spam", "INBOUND", "DROP", ["spam.test"], ["*"])
    rule("default-friend", "INBOUND", "DEFAULT", ["friend@spam.test"], ["*"])
    rule("bounce-bad", "INBOUND", "BOUNCE", ["bad.test"], ["*"])
    rule("junk-promo", "INBOUND", "MOVE_TO_JUNK", ["*.promo.test"], ["*"])
    rule("bypass-shady", "INBOUND", "BYPASS_SPAM_CHECK", ["shady.test"], [f"bob@{DOMAIN}"])
    rule("news-bypass", "INBOUND", "BYPASS_SPAM_CHECK", ["news.test"], ["*"])
    rule("news-junk", "INBOUND", "MOVE_TO_JUNK", ["news.test"], ["*"])
    rule("out-drop", "OUTBOUND", "DROP", ["*"], ["blackhole.test"])
    rule("out-bounce", "OUTBOUND", "BOUNCE", ["*"], ["blocked.test"])
    rule("out-vip", "OUTBOUND", "DEFAULT", [f"alice@{DOMAIN}"], ["vip@blocked.test"])
    rule("out-gateway", "OUTBOUND", "ROUTE_TO_GATEWAY", ["*"], ["partner.test"], SmtpGatewayId=relay)
    rule("out-dead-gateway", "OUTBOUND", "ROUTE_TO_GATEWAY", ["*"], ["dead.test"], SmtpGatewayId=dead)
    rule("hook-async", "INBOUND", "RUN_HOOK", ["hooked.test"], ["*"],
         HookEndpoint="https://127.0.0.1:9/hook", RunSynchronously=False)

    status, _, body = call("GET", "/email-flow-rules/out-gateway")
    check(status == 200 and body.get("Action") == "ROUTE_TO_GATEWAY" and body.get("SmtpGatewayId") == relay
          and body.get("DestinationPatterns") == ["partner.test"], f"GetEmailFlowRule ({body})")
    status, _, body = call("GET", "/email-flow-rules")
    check(status == 200 and len(body.get("Rules", [])) == 13, f"ListEmailFlowRules lists 13 rules ({status})")

    def tested(direction, sender, recipient):
        status, _, body = call("POST", "/email-flow-rule-tests",
                               {"Direction": direction, "Sender": sender, "Recipient": recipient})
        check(status == 200, f"TestEmailFlowRules {sender} -> {recipient} ({status} {body})")
        return body.get("Action"), body.get("RuleName")

    # --- Inbound mail ---------------------------------------------------------------------------
    def message(sender, to, subject, extra=""):
        return (f"From: <{sender}>\r\n{extra}To: {', '.join(to)}\r\nSubject: {subject}\r\n"
                f"Message-ID: <{subject}@example.test>\r\nDate: Sat, 21 Nov 2026 11:00:00 +0000\r\n\r\n"
                f"Body of {subject}.\r\n").encode()

    alice, bob = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
    mx = smtplib.SMTP(*server.addrs["smtp"])
    mx.ehlo("mail.elsewhere.test")
    inbound = [
        ("eve@spam.test", [alice], "dropped-spam", ""),
        ("friend@spam.test", [alice], "friend-mail", ""),
        ("mallory@bad.test", [alice], "bounced-bad", ""),
        ("deals@mail.promo.test", [alice], "promo-deal", ""),
        ("ceo@shady.test", [alice, bob], "shady-note", ""),
        ("editor@news.test", [alice], "news-letter", ""),
        ("ok@fine.test", [alice], "sender-header", "Sender: <bot@spam.test>\r\n"),
        ("ok@hooked.test", [alice], "async-hooked", ""),
    ]
    for sender, to, subject, extra in inbound:
        refused = mx.sendmail(sender, to, message(sender, to, subject, extra))
        check(refused == {}, f"MX accepts {subject} (250 even when a rule drops or bounces it)")
    mx.quit()

    imap_a = imap_connect(server, alice)
    imap_b = imap_connect(server, bob)

    def subjects(imap, folder):
        return sorted(email.message_from_bytes(raw, policy=email.policy.default)["Subject"] or ""
                      for raw in fetch_all(imap, folder))

    inbox_a, junk_a = subjects(imap_a, "INBOX"), subjects(imap_a, "Junk E-mail")
    inbox_b, junk_b = subjects(imap_b, "INBOX"), subjects(imap_b, "Junk E-mail")
    check("dropped-spam" not in inbox_a + junk_a, "Drop: spam.test is not delivered")
    check("friend-mail" in inbox_a, "precedence: the address rule (Default) beats the domain rule (Drop)")
    check("bounced-bad" not in inbox_a + junk_a, "Bounce: bad.test is not delivered")
    dsn = wait_for("inbound bounce", lambda: [m for m in collector.messages if "mallory@bad.test" in m[1]])
    check(bool(dsn) and dsn[0][0] in ("", "<>") and b"multipart/report" in dsn[0][2]
          and b"bounced-bad" in dsn[0][2], f"Bounce: the sender gets a DSN with the null reverse-path ({dsn[:1]})")
    check("promo-deal" in junk_a and "promo-deal" not in inbox_a, "Deliver to junk: *.promo.test in Junk E-mail")
    check("shady-note" in junk_a, "Default: a DMARC p=quarantine failure still goes to Junk E-mail (alice)")
    check("shady-note" in inbox_b and "shady-note" not in junk_b,
          "Never deliver to junk: the same message reaches bob's INBOX (per-recipient rules)")
    check("news-letter" in junk_a, "equal specificity: Deliver to junk beats Never deliver to junk")
    check("sender-header" not in inbox_a + junk_a, "the Sender header is matched before From (dropped)")
    check("async-hooked" in inbox_a, "an asynchronous hook rule never holds delivery back")

    expected_in = [
        ("eve@spam.test", alice, "DROP", "drop-spam"),
        ("friend@spam.test", alice, "DEFAULT", "default-friend"),
        ("mallory@bad.test", alice, "BOUNCE", "bounce-bad"),
        ("deals@mail.promo.test", alice, "MOVE_TO_JUNK", "junk-promo"),
        ("ceo@shady.test", alice, "DEFAULT", None),
        ("ceo@shady.test", bob, "BYPASS_SPAM_CHECK", "bypass-shady"),
        ("editor@news.test", alice, "MOVE_TO_JUNK", "news-junk"),
        ("bot@spam.test", alice, "DROP", "drop-spam"),
        ("ok@hooked.test", alice, "RUN_HOOK", "hook-async"),
    ]
    for sender, recipient, action, name in expected_in:
        got = tested("INBOUND", sender, recipient)
        check(got == (action, name), f"TestEmailFlowRules agrees for {sender} -> {recipient}: {got}")

    # --- Outbound mail --------------------------------------------------------------------------
    ctx = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
    sub = smtplib.SMTP(*server.addrs["submission"])
    sub.starttls(context=ctx)
    sub.login(alice, PASSWORD)
    outbound = [
        ("someone@remote.test", "out-default"),
        ("void@blackhole.test", "out-dropped"),
        ("boss@blocked.test", "out-blocked"),
        ("vip@blocked.test", "out-vip"),
        ("buyer@partner.test", "out-gateway"),
        ("x@dead.test", "out-dead"),
    ]
    for recipient, subject in outbound:
        refused = sub.sendmail(alice, [recipient], message(alice, [recipient], subject))
        check(refused == {}, f"submission accepts {subject}")
    sub.quit()

    def received_by(store, recipient):
        return [m for m in store.messages if recipient in m[1]]

    check(bool(wait_for("default", lambda: received_by(collector, "someone@remote.test"))),
          "outbound Default: sent through the normal route")
    check(bool(wait_for("vip", lambda: received_by(collector, "vip@blocked.test"))),
          "outbound precedence: the sender-address Default rule beats the destination-domain Bounce")
    routed = wait_for("gateway", lambda: received_by(gateway, "buyer@partner.test"))
    check(bool(routed) and b"out-gateway" in routed[0][2], "Route to SMTP gateway: the gateway received it")
    check(not received_by(collector, "buyer@partner.test"), "the routed message did not take the normal route")
    logins = [l for l in gateway.logins if l[1]]
    check(bool(logins) and logins[0][0] in ("PLAIN", "LOGIN") and logins[0][2] in ("TLSv1.2", "TLSv1.3"),
          f"the gateway saw basic AUTH over TLS 1.2+ ({gateway.logins})")

    def bounces():
        out = []
        for raw in fetch_all(imap_a, "INBOX"):
            if b"multipart/report" in raw:
                out.append(raw)
        return out

    def bounced(recipient):
        return [raw for raw in bounces() if f"<{recipient}>".encode() in raw]

    blocked = wait_for("blocked", lambda: bounced("boss@blocked.test"))
    check(bool(blocked) and b"administrator" in blocked[0],
          "outbound Bounce: the sender is told the administrator blocked it")
    dead_bounce = wait_for("dead gateway", lambda: bounced("x@dead.test"))
    check(bool(dead_bounce) and b"SMTP gateway" in dead_bounce[0],
          "an unreachable gateway bounces the message to its sender")
    time.sleep(1.5)
    check(not received_by(collector, "void@blackhole.test") and not bounced("void@blackhole.test"),
          "outbound Drop: not sent, and the sender is not told")
    check(not received_by(collector, "boss@blocked.test"), "outbound Bounce: not sent")
    sent = subjects(imap_a, "Sent Items")
    check(all(s in sent for _, s in outbound), f"every submitted message is in Sent Items ({sent})")

    expected_out = [
        ("someone@remote.test", "DEFAULT", None),
        ("void@blackhole.test", "DROP", "out-drop"),
        ("boss@blocked.test", "BOUNCE", "out-bounce"),
        ("vip@blocked.test", "DEFAULT", "out-vip"),
        ("buyer@partner.test", "ROUTE_TO_GATEWAY", "out-gateway"),
        ("x@dead.test", "ROUTE_TO_GATEWAY", "out-dead-gateway"),
    ]
    for recipient, action, name in expected_out:
        got = tested("OUTBOUND", alice, recipient)
        check(got == (action, name), f"TestEmailFlowRules agrees for {alice} -> {recipient}: {got}")

    # --- The event log ------------------------------------------------------------------------
    path = os.path.join(server.data_dir, "logs", "emailevents", f"{ALIAS}.jsonl")
    events = []
    if os.path.exists(path):
        with open(path) as f:
            events = [json.loads(line) for line in f if line.strip()]
    applied = {(e["ruleName"], e["ruleType"], e["ruleActions"][0]["action"]) for e in events
               if e.get("eventName") == "RULE_APPLIED"}
    for expected in (("drop-spam", "INBOUND_RULE", "DROP"), ("junk-promo", "INBOUND_RULE", "MOVE_TO_JUNK"),
                     ("out-gateway", "OUTBOUND_RULE", "ROUTE_TO_GATEWAY")):
        check(expected in applied, f"RULE_APPLIED logged for {expected}")

    # --- Changes take effect at once -----------------------------------------------------------
    status, _, _ = call("DELETE", "/email-flow-rules/drop-spam")
    check(status == 200, "DeleteEmailFlowRule")
    status, _, body = call("GET", "/email-flow-rules/drop-spam")
    check(status == 400 and body.get("Code") == "ResourceNotFoundException", f"the rule is gone ({body})")
    mx = smtplib.SMTP(*server.addrs["smtp"])
    mx.sendmail("eve@spam.test", [alice], message("eve@spam.test", [alice], "after-removal"))
    mx.quit()
    check("after-removal" in subjects(imap_a, "INBOX"), "a removed Drop rule no longer applies to the next message")
    status, _, body = call("PUT", "/email-flow-rules/junk-promo", {
        "Direction": "INBOUND", "Action": "DROP", "SenderPatterns": ["*.promo.test"], "DestinationPatterns": ["*"]})
    check(status == 200, f"UpdateEmailFlowRule ({status} {body})")
    mx = smtplib.SMTP(*server.addrs["smtp"])
    mx.sendmail("deals@mail.promo.test", [alice], message("deals@mail.promo.test", [alice], "promo-after-edit"))
    mx.quit()
    check("promo-after-edit" not in subjects(imap_a, "INBOX") + subjects(imap_a, "Junk E-mail"),
          "an edited rule applies to the next message")
    check(tested("INBOUND", "deals@mail.promo.test", alice) == ("DROP", "junk-promo"),
          "TestEmailFlowRules sees the edit")

    # --- Bad input ------------------------------------------------------------------------------
    def refused(body, code, member, what):
        status, _, out = call("POST", "/email-flow-rules", body)
        check(status == 400 and out.get("Code") == code and member in out.get("Message", ""),
              f"{what}: {code} naming {member} ({status} {out})")

    def bad(name, **fields):
        body = {"Name": name, "Direction": "INBOUND", "Action": "DROP", "SenderPatterns": ["x.test"],
                "DestinationPatterns": ["*"]}
        body.update(fields)
        return body

    refused(bad("plus", SenderPatterns=["a+b@x.test"]), "InvalidParameterException", "SenderPatterns",
            "'+' in a pattern")
    refused(bad("mid", DestinationPatterns=["a.*.com"]), "InvalidParameterException", "DestinationPatterns",
            "a wildcard that is not the leading label")
    refused(bad("many", SenderPatterns=[f"s{i}.test" for i in range(251)]), "LimitExceededException",
            "SenderPatterns", "251 patterns in one rule")
    refused(bad("nogw", Direction="OUTBOUND", Action="ROUTE_TO_GATEWAY", SmtpGatewayId="gw-unknown"),
            "ResourceNotFoundException", "SmtpGatewayId", "an unknown gateway")
    refused(bad("synchook", Action="RUN_HOOK", HookEndpoint="https://hook.test/x", RunSynchronously=True,
                DestinationPatterns=[alice]), "InvalidParameterException", "DestinationPatterns",
            "a synchronous hook with a destination other than *")
    refused(bad("hookfallback", Action="RUN_HOOK", HookEndpoint="https://hook.test/x",
                FallbackAction="RUN_HOOK"), "InvalidParameterException", "FallbackAction",
            "a Run hook fallback")
    refused(bad("httphook", Action="RUN_HOOK", HookEndpoint="http://hook.test/x"),
            "InvalidParameterException", "HookEndpoint", "a hook endpoint that is not https")
    refused(bad("junkout", Direction="OUTBOUND", Action="MOVE_TO_JUNK"), "InvalidParameterException", "Action",
            "an inbound-only action on an outbound rule")
    refused(bad("timeout", Action="RUN_HOOK", HookEndpoint="https://hook.test/x", RuleTimeoutMinutes=241),
            "InvalidParameterException", "RuleTimeoutMinutes", "a rule timeout over 240 minutes")
    refused(bad("bounce-bad"), "NameAvailabilityException", "Name", "a rule name in use")
    status, _, out = call("DELETE", f"/smtp-gateways/{relay}")
    check(status == 400 and out.get("Code") == "InvalidParameterException" and "out-gateway" in out.get("Message", ""),
          f"a gateway a rule uses is not deleted ({status} {out})")

    # 1,000 sender patterns per organization: fill up with rules of 250.
    status, _, body = call("GET", "/email-flow-rules")
    used = sum(len(r["SenderPatterns"]) for r in body.get("Rules", []))
    filler, n = [], 0
    while used + 250 <= 1000:
        name = f"filler-{n}"
        status, _, out = call("POST", "/email-flow-rules",
                              bad(name, SenderPatterns=[f"f{n}-{i}.test" for i in range(250)]))
        check(status == 200, f"{name} within the organization limit ({status} {out})")
        filler.append(name)
        used += 250
        n += 1
    refused(bad("over", SenderPatterns=[f"o{i}.test" for i in range(1000 - used + 1)]), "LimitExceededException",
            "SenderPatterns", "more than 1,000 sender patterns in the organization")
    for name in filler:
        call("DELETE", f"/email-flow-rules/{name}")
    status, _, out = call("POST", "/email-flow-rules", bad("fits-again"))
    check(status == 200, f"room again once the filler rules are removed ({status} {out})")

    # Nothing got lost on the way: the earlier mail is still where it was.
    check("friend-mail" in subjects(imap_a, "INBOX"), "earlier deliveries are intact")
    imap_a.logout()
    imap_b.logout()


if __name__ == "__main__":
    main()
