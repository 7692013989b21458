"""Drives Carillon's submission listener with Python's smtplib (a client nobody here wrote).

Usage: submission.py PORT PASSWORD. Exits non-zero on the first unexpected answer; prints
PASS at the end. The Rust test `submission.rs` checks the mailboxes and the queue after it.
"""

import base64
import smtplib
import ssl
import sys

HOST = "127.0.0.1"
PORT = int(sys.argv[1])
PASSWORD = sys.argv[2]
CONTEXT = ssl._create_unverified_context()  # the server's certificate is self-signed
MESSAGE = (
    b"From: Sales <sales@example.test>\r\n"
    b"To: bob@example.test, partner@remote.test\r\n"
    b"Subject: quarterly numbers\r\n"
    b"\r\n"
    b"Numbers attached.\r\n"
    b".hidden dot line\r\n"
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Before STARTTLS: no AUTH offered, AUTH refused, MAIL refused.
s = smtplib.SMTP(HOST, PORT, timeout=30)
code, _ = s.ehlo("client.example.test")
assert code == 250
assert "starttls" in s.esmtp_features and "auth" not in s.esmtp_features, s.esmtp_features
code, msg = s.docmd("AUTH", "PLAIN " + b64(b"\0alice@example.test\0" + PASSWORD.encode()))
assert code == 538, (code, msg)
code, msg = s.mail("alice@example.test")
assert code == 530, (code, msg)

# After STARTTLS: AUTH offered, MAIL still refused until AUTH succeeds.
s.starttls(context=CONTEXT)
s.ehlo("client.example.test")
assert "PLAIN" in s.esmtp_features.get("auth", "") and "LOGIN" in s.esmtp_features["auth"]
code, msg = s.mail("alice@example.test")
assert code == 530, (code, msg)
try:
    s.login("alice@example.test", "wrong password")
    raise AssertionError("a wrong password was accepted")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
s.login("alice@example.test", PASSWORD)

# The envelope sender must be one of alice's addresses.
try:
    s.sendmail("bob@example.test", ["carol@example.test"], MESSAGE)
    raise AssertionError("a foreign sender address was accepted")
except smtplib.SMTPSenderRefused as e:
    assert e.smtp_code == 553, e

# From her alias: one local and one foreign recipient.
refused = s.sendmail("sales@example.test", ["bob@example.test", "partner@remote.test"], MESSAGE)
assert refused == {}, refused
s.quit()

# AUTH LOGIN step by step.
s = smtplib.SMTP(HOST, PORT, timeout=30)
s.starttls(context=CONTEXT)
s.ehlo("client.example.test")
code, msg = s.docmd("AUTH", "LOGIN")
assert code == 334 and base64.b64decode(msg) == b"Username:", (code, msg)
code, msg = s.docmd(b64(b"bob@example.test"))
assert code == 334 and base64.b64decode(msg) == b"Password:", (code, msg)
code, msg = s.docmd(b64(PASSWORD.encode()))
assert code == 235, (code, msg)
s.quit()
print("PASS")
