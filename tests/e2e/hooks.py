#!/usr/bin/env python3
"""Flow-rule hooks and the message-flow API end to end (issue 3 point 4, workmail.md §2.10,
§4.5, §4.10), driven by clients nobody here wrote: the organization through the `aws` CLI, the
rules and the hook secret through Carillon's admin API (SigV4 service `carillon`), mail in with
smtplib, mailboxes read with imaplib, and the guide's Python example run unchanged but for the
endpoint URL inside an HTTPS hook written with the standard library (http.server + ssl, a
self-signed certificate made with the openssl CLI and given to Carillon with --trusted-ca-file):
boto3 `workmailmessageflow.get_raw_message_content`, `s3.put_object` to Carillon's S3
endpoint, `workmailmessageflow.put_raw_message_content`.

Checks: every hook request carries a valid HMAC-SHA256 signature under the organization's
(rotated) secret and the exact §4.5 event; a synchronous hook rewrites the Subject and adds an
internal BCC recipient, and the rewritten message is what arrives; a hook slower than 15 s, an
oversize (> 256 KB) answer and a malformed answer each end in the rule's fallback action
(MOVE_TO_JUNK: the message is in Junk E-mail, nothing lost); an asynchronous hook hears of a
message already delivered; an outbound synchronous hook sees the authorized user as mailFrom and
the on-behalf `sender`, and its BOUNCE reaches the sender with its bounceMessage; PutRawMessageContent refuses a malformed message (MessageRejected),
a missing object (InvalidContentLocation) and a finished message (MessageFrozen), and another
account sees neither the message (ResourceNotFoundException) nor the bucket (AccessDenied).

Usage: hooks.py --carillon PATH
"""

import argparse
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.exceptions
from botocore.config import Config

from harness import (FAILURES, PASSWORD, Carillon, aws, carillon_call, check, credentials, fetch_all,
                     free_port, imap_connect)

ALIAS = "hooked"
DOMAIN = f"{ALIAS}.localhost"
REGION = "us-east-1"
BUCKET = "hook-content"


class Hook:
    """The HTTPS hook: one behaviour per path, every request's signature checked and its event
    kept for the test."""

    def __init__(self, cert, key, endpoint, creds):
        self.secret = None
        self.events = []
        self.arrived = threading.Condition()
        self.results = {}
        self.endpoint = endpoint
        self.creds = creds
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                timestamp = self.headers.get("X-Carillon-Timestamp", "")
                expected = "v1=" + hmac.new(hook.secret.encode(), timestamp.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(expected, self.headers.get("X-Carillon-Signature", ""))
                fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
                event = json.loads(body)
                with hook.arrived:
                    hook.events.append((self.path, signed and fresh, event, time.time()))
                    hook.arrived.notify_all()
                answer = hook.behave(self.path, event)
                if answer is None:
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                try:
                    self.wfile.write(answer)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = "https://localhost:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def clients(self):
        key, secret = self.creds
        common = dict(endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=key,
                      aws_secret_access_key=secret)
        workmail = boto3.client("workmailmessageflow", **common)
        s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **common)
        return workmail, s3

    def behave(self, path, event):
        if path == "/rewrite":
            return self.rewrite(event)
        if path == "/badput":
            return self.bad_put(event)
        if path == "/slow":
            time.sleep(17)
            return b'{"actions": [{"action": {"type": "DEFAULT"}, "allRecipients": true}]}'
        if path == "/oversize":
            return b'{"actions": [], "padding": "' + b"x" * (300 * 1024) + b'"}'
        if path == "/malformed":
            return b"this is not JSON"
        if path == "/bounce":
            return json.dumps({"actions": [{"action": {"type": "BOUNCE", "parameters": {
                "bounceMessage": "Blocked by the hook's policy."}}, "allRecipients": True}]}).encode()
        if path == "/async":
            workmail, _ = self.clients()
            raw = workmail.get_raw_message_content(messageId=event["messageId"])
            self.results["async_content"] = raw["messageContent"].read()
            time.sleep(3)
            self.results["async_answered_at"] = time.time()
            return b"{}"
        return b"{}"

    def bad_put(self, event):
        """PutRawMessageContent with a malformed message and with a missing object; then the
        original is delivered unchanged (DEFAULT)."""
        workmail, s3 = self.clients()
        bad_key = str(uuid.uuid4())
        s3.put_object(Body=b"this is not a message\nat all\n", Bucket=BUCKET, Key=bad_key)
        for name, content in (("malformed", {"s3Reference": {"bucket": BUCKET, "key": bad_key}}),
                              ("missing", {"s3Reference": {"bucket": BUCKET, "key": "no-such-key"}})):
            try:
                workmail.put_raw_message_content(messageId=event["messageId"], content=content)
                self.results[name] = ("accepted", "")
            except botocore.exceptions.ClientError as e:
                self.results[name] = (e.response["Error"]["Code"], e.response["Error"].get("Message", ""))
        return b'{"actions": [{"action": {"type": "DEFAULT"}, "allRecipients": true}]}'

    def rewrite(self, event):
        """The guide's example (§2.10), answering DEFAULT and adding two recipients."""
        workmail, s3 = self.clients()
        msg_id = event["messageId"]
        raw_msg = workmail.get_raw_message_content(messageId=msg_id)
        parsed_msg = email.message_from_bytes(raw_msg["messageContent"].read())
        parsed_msg.replace_header("Subject", "New Subject Updated From Hook")
        key = str(uuid.uuid4())
        s3.put_object(Body=parsed_msg.as_bytes(), Bucket=BUCKET, Key=key)
        head = s3.head_object(Bucket=BUCKET, Key=key)
        self.results["etag"] = (head["ETag"], '"%s"' % hashlib.md5(parsed_msg.as_bytes()).hexdigest())
        workmail.put_raw_message_content(messageId=msg_id, content={"s3Reference": {"bucket": BUCKET, "key": key}})
        self.results["rewritten_id"] = msg_id
        return json.dumps({"actions": [
            {"action": {"type": "DEFAULT"}, "allRecipients": True},
            {"action": {"type": "DEFAULT"}, "recipients": [f"carol@{DOMAIN}", "outsider@elsewhere.test"]},
        ]}).encode()

    def next_event(self, path, timeout=60):
        """The first request on `path` not returned yet, waiting up to `timeout` seconds."""
        deadline = time.time() + timeout
        with self.arrived:
            while True:
                for i, item in enumerate(self.events):
                    if item[0] == path:
                        return self.events.pop(i)
                if time.time() >= deadline:
                    raise AssertionError(f"no hook request on {path} within {timeout} s")
                self.arrived.wait(timeout=max(0.1, deadline - time.time()))


def account_of(creds_file):
    """The account ID a credentials file names in its header comment ("(account N)")."""
    with open(creds_file) as f:
        match = re.search(r"\(account (\d{12})\)", f.read())
    if not match:
        raise AssertionError(f"no account ID in {creds_file}")
    return match.group(1)


def make_certificate(tmp):
    cert, key = os.path.join(tmp, "hook-cert.pem"), os.path.join(tmp, "hook-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    # A leaf, not a CA: webpki refuses a CA certificate as a server's own.
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-addext", "extendedKeyUsage=serverAuth",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-hooks-")
    cert, key = make_certificate(tmp)
    server = Carillon(args.carillon, os.path.join(tmp, "data"), ["--trusted-ca-file", cert])
    try:
        run(server, cert, key, tmp)
    finally:
        server.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def message(sender, subject):
    return (f"From: {sender}\r\nTo: alice@{DOMAIN}\r\nSubject: {subject}\r\n"
            f"Date: {email.utils.formatdate()}\r\nMessage-ID: <{uuid.uuid4()}@sender.test>\r\n\r\n"
            f"Body of {subject}.\r\n").encode()


def send(server, sender, subject, recipients=None):
    with smtplib.SMTP(*server.addrs["smtp"]) as mx:
        mx.sendmail(sender, recipients or [f"alice@{DOMAIN}"], message(sender, subject))


def subjects(server, address, folder):
    imap = imap_connect(server, address)
    try:
        return [email.message_from_bytes(m, policy=email.policy.default)["Subject"]
                for m in fetch_all(imap, folder)]
    finally:
        imap.logout()


def wait_for(server, address, folder, subject, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if subject in subjects(server, address, folder):
            return True
        time.sleep(0.5)
    return False


def run(server, cert, key, tmp):
    admin = os.path.join(server.data_dir, "admin-credentials")
    org = aws(server, admin, "workmail", "create-organization", "--alias", ALIAS)["OrganizationId"]
    for name in ("alice", "carol"):
        uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", name,
                  "--display-name", name.title(), "--password", PASSWORD)["UserId"]
        aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
            "--entity-id", uid, "--email", f"{name}@{DOMAIN}")

    hook = Hook(cert, key, server.endpoint, credentials(admin))
    # --- The signing secret: made on first Get, replaced by Rotate ---------------------------
    status, _, first = carillon_call(server, admin, "GET", f"/carillon/v1/organizations/{org}/flow-hook-secret")
    check(status == 200 and len(first.get("Secret", "")) == 64, "GetFlowHookSecret returns a 64-hex secret")
    status, _, again = carillon_call(server, admin, "GET", f"/carillon/v1/organizations/{org}/flow-hook-secret")
    check(again.get("Secret") == first.get("Secret"), "the secret stays until rotated")
    status, _, rotated = carillon_call(server, admin, "POST", f"/carillon/v1/organizations/{org}/flow-hook-secret")
    check(status == 200 and rotated.get("Secret") not in (None, first.get("Secret")),
          "RotateFlowHookSecret replaces the secret")
    hook.secret = rotated["Secret"]
    other = os.path.join(tmp, "other-credentials")
    server.cli("accounts", "create", "--name", "other", "--credentials-out", other)
    status, _, body = carillon_call(server, other, "GET", f"/carillon/v1/organizations/{org}/flow-hook-secret")
    check(status == 400 and "OrganizationNotFound" in json.dumps(body), "another account cannot read the secret")
    status, _, doc = carillon_call(server, admin, "GET", "/carillon/v1/openapi.json")
    ops = {op.get("operationId") for path in doc.get("paths", {}).values() for op in path.values()}
    check({"GetFlowHookSecret", "RotateFlowHookSecret"} <= ops, "the OpenAPI document lists the hook secret operations")

    # --- The bucket the hook writes new content to --------------------------------------------
    key_id, secret = credentials(admin)
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=key_id,
                      aws_secret_access_key=secret, config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket=BUCKET)
    o_key, o_secret = credentials(other)
    other_s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=o_key,
                            aws_secret_access_key=o_secret, config=Config(s3={"addressing_style": "path"}))
    s3.put_object(Bucket=BUCKET, Key="probe", Body=b"probe")
    check(s3.get_object(Bucket=BUCKET, Key="probe")["Body"].read() == b"probe", "S3 GetObject returns PutObject's bytes")
    for what, call in (("GetObject", lambda: other_s3.get_object(Bucket=BUCKET, Key="probe")),
                       ("PutObject", lambda: other_s3.put_object(Bucket=BUCKET, Key="x", Body=b"x"))):
        try:
            call()
            check(False, f"another account's S3 {what} on the bucket is refused")
        except botocore.exceptions.ClientError as e:
            check(e.response["Error"]["Code"] == "AccessDenied", f"another account's S3 {what} is AccessDenied")
    try:
        s3.get_object(Bucket=BUCKET, Key="missing")
        check(False, "GetObject of a missing key fails")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == "NoSuchKey", "GetObject of a missing key is NoSuchKey")
    s3.delete_object(Bucket=BUCKET, Key="probe")

    # --- Rules: one Run hook rule per sender --------------------------------------------------
    def rule(name, sender, path, synchronous=True, fallback="MOVE_TO_JUNK", timeout=0, direction="INBOUND"):
        status, _, body = carillon_call(server, admin, "POST", f"/carillon/v1/organizations/{org}/email-flow-rules", {
            "Name": name, "Direction": direction, "Action": "RUN_HOOK", "SenderPatterns": [sender],
            "DestinationPatterns": ["*"], "HookEndpoint": hook.url + path, "RunSynchronously": synchronous,
            "FallbackAction": fallback, "RuleTimeoutMinutes": timeout})
        check(status == 200, f"rule {name} created ({status} {body})")

    rule("rewrite", "rewrite@sender.test", "/rewrite", fallback="BOUNCE")
    rule("slow", "slow@sender.test", "/slow")
    rule("oversize", "oversize@sender.test", "/oversize")
    rule("malformed", "malformed@sender.test", "/malformed")
    rule("async", "async@sender.test", "/async", synchronous=False)
    rule("badput", "badput@sender.test", "/badput", fallback="BOUNCE")
    rule("outbound", f"carol@{DOMAIN}", "/bounce", fallback="DEFAULT", direction="OUTBOUND")

    # --- A synchronous hook rewriting the subject (the guide's example) -----------------------
    send(server, "rewrite@sender.test", "Original subject")
    _, signed, event, _ = hook.next_event("/rewrite")
    check(signed, "the hook request is signed with the rotated secret (X-Carillon-Signature)")
    check(set(event) == {"summaryVersion", "envelope", "subject", "messageId", "invocationId",
                         "flowDirection", "truncated"}, f"the event has the §4.5 fields ({sorted(event)})")
    check(event["summaryVersion"] == "2018-10-10" and event["flowDirection"] == "INBOUND"
          and event["truncated"] is False and event["subject"] == "Original subject",
          "summaryVersion, flowDirection, truncated and subject as §4.5")
    check(event["envelope"] == {"mailFrom": {"address": "rewrite@sender.test"},
                                "recipients": [{"address": f"alice@{DOMAIN}"}]}, "the envelope as §4.5")
    check(len(event["invocationId"]) == 32 and all(c in "0123456789abcdef" for c in event["invocationId"]),
          "invocationId is 32 hex digits")
    check(wait_for(server, f"alice@{DOMAIN}", "INBOX", "New Subject Updated From Hook", 30),
          "the content replaced with PutRawMessageContent is what arrives (imaplib)")
    check("Original subject" not in subjects(server, f"alice@{DOMAIN}", "INBOX"), "the original was not delivered besides")
    check(wait_for(server, f"carol@{DOMAIN}", "INBOX", "New Subject Updated From Hook", 10),
          "a recipient the hook added inside the organization gets it as BCC")
    etag, md5 = hook.results.get("etag", (None, None))
    check(etag == md5, "S3 HeadObject's ETag is the content's MD5")
    msg_id = hook.results.get("rewritten_id", "00000000-0000-0000-0000-000000000000")
    workmail, _ = hook.clients()
    raw = workmail.get_raw_message_content(messageId=msg_id)["messageContent"].read()
    check(b"New Subject Updated From Hook" in raw, "GetRawMessageContent serves the replaced content within 24 hours")
    try:
        workmail.put_raw_message_content(messageId=msg_id, content={"s3Reference": {"bucket": BUCKET, "key": "x"}})
        check(False, "a message whose hook answered cannot be updated")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == "MessageFrozen", "a message whose hook answered is MessageFrozen")
    readonly = os.path.join(tmp, "readonly-credentials")
    server.cli("keys", "create", "--policy", "AmazonWorkMailReadOnlyAccess", "--credentials-out", readonly)
    r_key, r_secret = credentials(readonly)
    readonly_flow = boto3.client("workmailmessageflow", endpoint_url=server.endpoint, region_name=REGION,
                                 aws_access_key_id=r_key, aws_secret_access_key=r_secret)
    arn = f"arn:aws:workmailmessageflow:{REGION}:{account_of(admin)}:message/{org}/incoming/{msg_id}"
    try:
        readonly_flow.get_raw_message_content(messageId=msg_id)
        check(False, "a principal without workmailmessageflow permissions cannot read the message")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == "AccessDeniedException" and arn in e.response["Error"]["Message"],
              f"IAM decides workmailmessageflow:GetRawMessageContent on the §4.10 ARN ({e.response['Error']['Message']})")
    other_flow = boto3.client("workmailmessageflow", endpoint_url=server.endpoint, region_name=REGION,
                              aws_access_key_id=o_key, aws_secret_access_key=o_secret)
    for label, client, mid in (("another account's message", other_flow, msg_id),
                               ("an unknown message", workmail, str(uuid.uuid4()))):
        try:
            client.get_raw_message_content(messageId=mid)
            check(False, f"{label} is not readable")
        except botocore.exceptions.ClientError as e:
            check(e.response["Error"]["Code"] == "ResourceNotFoundException", f"{label} is ResourceNotFoundException")

    # --- Bad content for PutRawMessageContent: the model's errors, the original delivered ------
    send(server, "badput@sender.test", "Kept original")
    hook.next_event("/badput")
    # Delivery follows the hook's answer, so once the message is in, the hook's calls are done.
    check(wait_for(server, f"alice@{DOMAIN}", "INBOX", "Kept original", 30),
          "after the refused updates the original message is delivered unchanged")
    code, text = hook.results.get("malformed", ("", ""))
    check(code == "MessageRejected" and "RFC 5322" in text,
          f"a malformed message given to PutRawMessageContent is MessageRejected with the reason ({text})")
    check(hook.results.get("missing", ("",))[0] == "InvalidContentLocation",
          "a missing object is InvalidContentLocation")

    # --- An asynchronous hook: delivery does not wait ----------------------------------------
    started = time.time()
    send(server, "async@sender.test", "Async subject")
    delivered = wait_for(server, f"alice@{DOMAIN}", "INBOX", "Async subject", 10)
    delivered_at = time.time()
    check(delivered, "a message with an asynchronous hook is delivered at once")
    _, signed, event, _ = hook.next_event("/async", timeout=30)
    check(signed and event["subject"] == "Async subject", "the asynchronous hook receives the signed event")
    deadline = time.time() + 10
    while "async_answered_at" not in hook.results and time.time() < deadline:
        time.sleep(0.2)
    check(b"Async subject" in hook.results.get("async_content", b""),
          "the asynchronous hook reads the message with GetRawMessageContent")
    check(delivered_at < hook.results.get("async_answered_at", 0) and delivered_at - started < 10,
          "the message was in the INBOX before the asynchronous hook answered")

    # --- Failures: fallback MOVE_TO_JUNK, nothing lost ----------------------------------------
    for sender, subject in (("oversize@sender.test", "Oversize answer"),
                            ("malformed@sender.test", "Malformed answer"),
                            ("slow@sender.test", "Slow hook")):
        send(server, sender, subject)
    for path in ("/oversize", "/malformed", "/slow"):
        hook.next_event(path)
    for subject, what in (("Oversize answer", "an answer over 256 KB"),
                          ("Malformed answer", "a malformed answer"),
                          ("Slow hook", "a hook slower than 15 s (rule timeout 0)")):
        check(wait_for(server, f"alice@{DOMAIN}", "Junk E-mail", subject, 45),
              f"{what} ends in the fallback action (in Junk E-mail, not lost)")
    # --- An outbound synchronous hook: alice sends on behalf of carol; the hook bounces ------
    outbound = (f"From: carol@{DOMAIN}\r\nTo: partner@remote.test\r\nSubject: On behalf\r\n"
                f"Date: {email.utils.formatdate()}\r\n\r\nSent by alice for carol.\r\n").encode()
    tls = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
    with smtplib.SMTP(*server.addrs["submission"]) as sub:
        sub.starttls(context=tls)
        sub.login(f"alice@{DOMAIN}", PASSWORD)
        sub.sendmail(f"alice@{DOMAIN}", ["partner@remote.test"], outbound)
    _, signed, event, _ = hook.next_event("/bounce")
    check(signed and event["flowDirection"] == "OUTBOUND"
          and event["envelope"] == {"mailFrom": {"address": f"alice@{DOMAIN}"},
                                    "recipients": [{"address": "partner@remote.test"}]},
          "the outbound event names the authorized user as mailFrom and the external recipient")
    check(event.get("sender") == {"address": f"carol@{DOMAIN}"}, "sender is set for an on-behalf send")
    deadline, bounced = time.time() + 30, False
    while time.time() < deadline and not bounced:
        imap = imap_connect(server, f"alice@{DOMAIN}")
        bounced = any(b"Blocked by the hook's policy." in m for m in fetch_all(imap, "INBOX"))
        imap.logout()
        time.sleep(0.5)
    check(bounced, "the hook's BOUNCE reaches the sender with its bounceMessage")
    hook.server.shutdown()


if __name__ == "__main__":
    main()
