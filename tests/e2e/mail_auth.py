#!/usr/bin/env python3
"""Mail authentication end to end (issue 3 §1-2; workmail.md §1.3, §2.25).

Starts the real `carillon` binary resolving through a local DNS stub (dnslib) and relaying
through an aiosmtpd peer (the smarthost), then:
(a) registers a domain with the `aws` CLI, publishes the records GetMailDomain lists (the DKIM
    TXT records among them) in the stub zone, sends a message through submission with smtplib
    and verifies the DKIM signature the peer received with PyPI dkimpy, which looks the key up
    in the stub zone;
(b) sends forged mail to the MX with smtplib from domains whose stub DMARC record is
    p=reject (refused with 550 5.7.1) and p=quarantine (filed in Junk E-mail, read with
    imaplib), then turns enforcement off with put-inbound-dmarc-settings (delivered to INBOX
    with the Authentication-Results header only).

Usage: mail_auth.py --carillon PATH
"""

import argparse
import email
import email.policy
import os
import smtplib
import ssl
import sys
import tempfile
import time

import dkim
from aiosmtpd.controller import Controller
from dnslib import MX, QTYPE, TXT, DNSRecord
from dnslib.server import DNSLogger, DNSServer

from harness import (FAILURES, PASSWORD, Carillon, Collector, Zone, aws, carillon_call, check, fetch_all,
                     free_port, imap_connect)

DOMAIN = "signer.test"
EXTERNAL = "partner@remote.test"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()

    zone = Zone()
    dns = DNSServer(zone, port=0, address="127.0.0.1", logger=DNSLogger("-request,-reply,-truncated", prefix=False))
    dns.start_thread()
    dns_port = dns.server.server_address[1]
    collector = Collector()
    peer_port = free_port()
    peer = Controller(collector, hostname="127.0.0.1", port=peer_port)
    peer.start()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-mailauth-")
    extra = ["--dns-resolver", f"127.0.0.1:{dns_port}", "--smarthost", f"127.0.0.1:{peer_port}"]
    server = Carillon(args.carillon, tmp, extra)
    try:
        run(server, zone, dns_port, collector)
    finally:
        server.stop()
        peer.stop()
        dns.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def publish_txt(zone, name, value):
    """A TXT record split into character-strings of at most 255 bytes (long DKIM keys)."""
    data = value.encode()
    zone.add(name, "TXT", TXT([data[i:i + 255] for i in range(0, len(data), 255)]))


def stub_txt(dns_port):
    """dkimpy's DNS function answering from the stub zone (a real DNS query over UDP)."""
    def lookup(name, timeout=5):
        reply = DNSRecord.parse(DNSRecord.question(name.decode().rstrip("."), "TXT").send(
            "127.0.0.1", dns_port, timeout=timeout))
        for rr in reply.rr:
            if rr.rtype == QTYPE.TXT:
                return b"".join(rr.rdata.data)
        return None
    return lookup


def selectors_of(message):
    """The s= selectors of a message's DKIM-Signature fields."""
    found = []
    for line in message.split(b"DKIM-Signature:")[1:]:
        tags = line.split(b"b=")[0]
        found += [t.strip()[2:].decode() for t in tags.replace(b"\r\n", b"").split(b";")
                  if t.strip().startswith(b"s=")]
    return sorted(found)


def rotate_dkim_keys(server, admin, org, zone, dns_port, collector, ctx):
    """(a2) DKIM key rotation: the old keys sign until the new records are published, then the
    new ones sign (dkimpy verifies); an old key is deleted once its record is gone."""
    base = f"/carillon/v1/organizations/{org}/mail-domains/{DOMAIN}"

    def keys():
        status, _, body = carillon_call(server, admin, "GET", f"{base}/dkim-keys")
        check(status == 200, f"ListDkimKeys ({status} {body})")
        return {k["Selector"]: k["State"] for k in body.get("Keys", [])}

    def send(subject):
        before = len(collector.messages)
        message = (f"From: Alice <alice@{DOMAIN}>\r\nTo: <{EXTERNAL}>\r\nSubject: {subject}\r\n"
                   f"Message-ID: <{subject}@{DOMAIN}>\r\n\r\nRotated.\r\n").encode()
        sub = smtplib.SMTP(*server.addrs["submission"])
        sub.starttls(context=ctx)
        sub.login(f"alice@{DOMAIN}", PASSWORD)
        sub.sendmail(f"alice@{DOMAIN}", [EXTERNAL], message)
        sub.quit()
        deadline = time.time() + 60
        while time.time() < deadline and len(collector.messages) == before:
            time.sleep(0.2)
        return collector.messages[-1][2] if len(collector.messages) > before else b""

    old = keys()
    check(len(old) == 2 and set(old.values()) == {"ACTIVE"}, f"two active keys before ({old})")
    status, _, rotation = carillon_call(server, admin, "POST", f"{base}/dkim-rotation")
    check(status == 200 and len(rotation.get("Records", [])) == 2, f"RotateDkimKeys ({status} {rotation})")
    new = rotation.get("PendingSelectors", [])
    status, _, again = carillon_call(server, admin, "POST", f"{base}/dkim-rotation")
    check(status == 400 and again.get("Code") == "MailDomainStateException",
          f"a second rotation waits for the first ({status} {again})")
    got = aws(server, admin, "workmail", "get-mail-domain", "--organization-id", org, "--domain-name", DOMAIN)
    listed = sorted(r["Hostname"].split(".")[0] for r in got["Records"] if "._domainkey." in r["Hostname"])
    check(listed == sorted(list(old) + new), f"GetMailDomain lists the old and the new records ({listed})")
    check(got["DkimVerificationStatus"] == "VERIFIED", "the domain stays verified while the new records are missing")
    check(keys() == {**old, **{s: "PENDING" for s in new}}, "the new keys are pending")
    signed = send("rotation-before")
    check(selectors_of(signed) == sorted(old), f"the old keys sign until the new records exist ({selectors_of(signed)})")

    for record in rotation.get("Records", []):
        publish_txt(zone, record["Hostname"].rstrip("."), record["Value"])
    got = aws(server, admin, "workmail", "get-mail-domain", "--organization-id", org, "--domain-name", DOMAIN)
    listed = sorted(r["Hostname"].split(".")[0] for r in got["Records"] if "._domainkey." in r["Hostname"])
    check(listed == sorted(new), f"once published, only the new records are listed ({listed})")
    check(keys() == {**{s: "RETIRING" for s in old}, **{s: "ACTIVE" for s in new}},
          "the new keys are active and the old ones retiring")
    signed = send("rotation-after")
    check(selectors_of(signed) == sorted(new), f"the new keys sign ({selectors_of(signed)})")
    check(dkim.verify(signed, dnsfunc=stub_txt(dns_port)), "dkimpy verifies a signature by a rotated key")

    aws(server, admin, "workmail", "get-mail-domain", "--organization-id", org, "--domain-name", DOMAIN)
    check(set(keys()) == set(old) | set(new), "a retiring key stays while its record is published")
    for selector in old:
        zone.records.pop((f"{selector}._domainkey.{DOMAIN}".lower(), "TXT"), None)
    aws(server, admin, "workmail", "get-mail-domain", "--organization-id", org, "--domain-name", DOMAIN)
    check(keys() == {s: "ACTIVE" for s in new}, "a retiring key is deleted once its record is gone")


def run(server, zone, dns_port, collector):
    admin = os.path.join(server.data_dir, "admin-credentials")
    org = aws(server, admin, "workmail", "create-organization", "--alias", "authcorp")["OrganizationId"]
    aws(server, admin, "workmail", "register-mail-domain", "--organization-id", org, "--domain-name", DOMAIN)
    got = aws(server, admin, "workmail", "get-mail-domain", "--organization-id", org, "--domain-name", DOMAIN)
    dkim_records = [r for r in got["Records"] if "._domainkey." in r["Hostname"]]
    check(sorted(r["Value"].split(";")[1].strip() for r in dkim_records) == ["k=ed25519", "k=rsa"],
          "GetMailDomain lists an Ed25519 and an RSA DKIM TXT record")
    check(got["DkimVerificationStatus"] != "VERIFIED", "DKIM is not verified before DNS says so")
    for record in got["Records"]:
        name, value = record["Hostname"].rstrip("."), record["Value"]
        if record["Type"] == "TXT":
            publish_txt(zone, name, value)
        elif record["Type"] == "MX":
            pref, host = value.split()
            zone.add(name, "MX", MX(host, int(pref)))
    got = aws(server, admin, "workmail", "get-mail-domain", "--organization-id", org, "--domain-name", DOMAIN)
    check(got["DkimVerificationStatus"] == "VERIFIED", "DKIM records verified through the configured resolver")
    check(got["OwnershipVerificationStatus"] == "VERIFIED", "domain ownership verified")

    uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", "alice",
              "--display-name", "Alice", "--password", PASSWORD)["UserId"]
    aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
        "--entity-id", uid, "--email", f"alice@{DOMAIN}")

    # --- (a) outbound DKIM --------------------------------------------------------------
    outgoing = (f"From: Alice <alice@{DOMAIN}>\r\nTo: <{EXTERNAL}>\r\nSubject: signed figures\r\n"
                f"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <signed-1@{DOMAIN}>\r\n\r\n"
                "The figures, signed.\r\n").encode()
    ctx = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
    sub = smtplib.SMTP(*server.addrs["submission"])
    sub.starttls(context=ctx)
    sub.login(f"alice@{DOMAIN}", PASSWORD)
    sub.sendmail(f"alice@{DOMAIN}", [EXTERNAL], outgoing)
    sub.quit()
    deadline = time.time() + 60
    while time.time() < deadline and not collector.messages:
        time.sleep(0.2)
    check(len(collector.messages) == 1, "the external peer received the message")
    if collector.messages:
        received = collector.messages[0][2]
        check(received.count(b"DKIM-Signature:") == 2, "two DKIM signatures (RSA and Ed25519)")
        check(received.endswith(outgoing), "the signed message is the submitted one below its signatures")
        check(dkim.verify(received, dnsfunc=stub_txt(dns_port)),
              "dkimpy verifies the signature against the record published in the stub zone")
        tampered = received.replace(b"The figures, signed.", b"The figures, changed.")
        check(not dkim.verify(tampered, dnsfunc=stub_txt(dns_port)), "dkimpy refuses a changed body")
    imap = imap_connect(server, f"alice@{DOMAIN}")
    sent = fetch_all(imap, "Sent Items")
    check(len(sent) == 1 and b"DKIM-Signature" not in sent[0], "the Sent Items copy is stored unsigned")

    rotate_dkim_keys(server, admin, org, zone, dns_port, collector, ctx)

    # --- (b) inbound DMARC --------------------------------------------------------------
    for domain, policy in (("forged.test", "reject"), ("shady.test", "quarantine")):
        publish_txt(zone, domain, "v=spf1 ip4:192.0.2.1 -all")
        publish_txt(zone, f"_dmarc.{domain}", f"v=DMARC1; p={policy}")

    def forged(domain, subject):
        return (f"From: The CEO <ceo@{domain}>\r\nTo: <alice@{DOMAIN}>\r\nSubject: {subject}\r\n"
                f"Date: Sat, 21 Nov 2026 11:00:00 +0000\r\nMessage-ID: <{subject}@{domain}>\r\n\r\n"
                "Please wire the money today.\r\n").encode()

    mx = smtplib.SMTP(*server.addrs["smtp"])
    mx.ehlo("mail.elsewhere.test")
    try:
        mx.sendmail("ceo@forged.test", [f"alice@{DOMAIN}"], forged("forged.test", "reject-me"))
        check(False, "p=reject forgery refused with 550 5.7.1 (it was accepted)")
    except smtplib.SMTPDataError as e:
        check(e.smtp_code == 550 and e.smtp_error.startswith(b"5.7.1"),
              f"p=reject forgery refused with 550 5.7.1 ({e.smtp_code} {e.smtp_error!r})")
    mx.sendmail("ceo@shady.test", [f"alice@{DOMAIN}"], forged("shady.test", "quarantine-me"))

    def subjects(folder):
        out = []
        for raw in fetch_all(imap, folder):
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            out.append((msg["Subject"], msg.get("Authentication-Results", "")))
        return out

    junk = subjects("Junk E-mail")
    check([s for s, _ in junk] == ["quarantine-me"], f"p=quarantine forgery lands in Junk E-mail ({junk})")
    check(all("dmarc=fail" in a and "spf=fail" in a for _, a in junk),
          "its Authentication-Results says spf=fail and dmarc=fail")
    check(all(s != "reject-me" for s, _ in subjects("INBOX") + junk), "the refused forgery is stored nowhere")

    described = aws(server, admin, "workmail", "describe-inbound-dmarc-settings", "--organization-id", org)
    check(described.get("Enforced") is True, "DMARC enforcement is on by default")
    aws(server, admin, "workmail", "put-inbound-dmarc-settings", "--organization-id", org, "--no-enforced")
    described = aws(server, admin, "workmail", "describe-inbound-dmarc-settings", "--organization-id", org)
    check(described.get("Enforced") is False, "DMARC enforcement turned off")
    mx.sendmail("ceo@forged.test", [f"alice@{DOMAIN}"], forged("forged.test", "not-enforced"))
    mx.quit()
    inbox = subjects("INBOX")
    check([s for s, _ in inbox] == ["not-enforced"], f"without enforcement the forgery reaches INBOX ({inbox})")
    check(all("dmarc=fail" in a for _, a in inbox), "with the Authentication-Results header saying dmarc=fail")
    imap.logout()


if __name__ == "__main__":
    main()
