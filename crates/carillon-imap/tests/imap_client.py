"""Drives Carillon's IMAP server with Python's imaplib, as a real client would.

Run by tests/imap.rs: python3 imap_client.py PLAIN_PORT TLS_PORT CA_FILE USER PASSWORD MESSAGE_FILE
The message file holds the exact bytes already delivered to INBOX as UID 1. Exits non-zero
(with a traceback) on the first failed check.
"""

import imaplib
import re
import socket
import ssl
import sys

plain_port, tls_port, ca_file, user, password, message_file = sys.argv[1:7]
plain_port, tls_port = int(plain_port), int(tls_port)
with open(message_file, "rb") as f:
    delivered = f.read()

# imaplib predates MOVE (RFC 6851); teach it the command name.
imaplib.Commands["MOVE"] = ("SELECTED",)

context = ssl.create_default_context(cafile=ca_file)
context.check_hostname = False
# A hung server fails the test instead of blocking it forever.
socket.setdefaulttimeout(30)


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print("ok:", what)


# --- No authentication before TLS; STARTTLS upgrades the plain listener. -------------------
plain = imaplib.IMAP4("127.0.0.1", plain_port)
check("STARTTLS" in plain.capabilities, "STARTTLS advertised in clear")
check("LOGINDISABLED" in plain.capabilities, "LOGINDISABLED advertised in clear")
try:
    plain.login(user, password)
    raise AssertionError("LOGIN accepted before TLS")
except imaplib.IMAP4.error as e:
    check("PRIVACYREQUIRED" in str(e) or "STARTTLS" in str(e), "LOGIN refused before TLS")
plain.starttls(ssl_context=context)
caps = plain.capability()[1][0].decode()
check("AUTH=PLAIN" in caps and "LOGINDISABLED" not in caps, "capabilities after STARTTLS")
try:
    plain.login(user, "wrong password")
    raise AssertionError("wrong password accepted")
except imaplib.IMAP4.error as e:
    check("AUTHENTICATIONFAILED" in str(e), "wrong password refused")
typ, _ = plain.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode())
check(typ == "OK", "AUTHENTICATE PLAIN after STARTTLS")
plain.logout()

# --- Implicit TLS. ---------------------------------------------------------------------------
imap = imaplib.IMAP4_SSL("127.0.0.1", tls_port, ssl_context=context)
typ, _ = imap.login(user, password)
check(typ == "OK", "LOGIN over implicit TLS")

typ, lines = imap.list()
listing = b"\n".join(lines).decode()
for name, attr in [("INBOX", None), ("Sent Items", "\\Sent"), ("Drafts", "\\Drafts"),
                   ("Deleted Items", "\\Trash"), ("Junk E-mail", "\\Junk")]:
    line = next((l for l in listing.splitlines() if l.endswith(f'"{name}"') or l.endswith(f" {name}")), None)
    check(line is not None, f"LIST shows {name}")
    if attr:
        check(attr in line, f"{name} has special-use {attr}")

typ, data = imap.select("INBOX")
check(typ == "OK" and data[0] == b"1", "SELECT INBOX: one message")
uidvalidity = imap.response("UIDVALIDITY")[1][0]
check(uidvalidity is not None, "UIDVALIDITY announced")

# --- FETCH is byte-exact and PEEK does not set \Seen. ------------------------------------------
typ, data = imap.fetch("1", "(BODY.PEEK[])")
check(data[0][1] == delivered, "BODY.PEEK[] returns the stored bytes exactly")
typ, data = imap.fetch("1", "(FLAGS)")
check(b"\\Seen" not in data[0], "PEEK leaves \\Seen unset")
typ, data = imap.fetch("1", "(UID RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)")
meta = data[0].decode() if isinstance(data[0], bytes) else data[0][0].decode()
check(f"RFC822.SIZE {len(delivered)}" in meta, "RFC822.SIZE is the stored size")
check('"Quarterly numbers"' in meta and "ENVELOPE" in meta, "ENVELOPE carries the subject")
check('("TEXT" "PLAIN"' in meta.upper(), "BODYSTRUCTURE of a text message")
typ, data = imap.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")
check(data[0][1] == b"Subject: Quarterly numbers\r\n\r\n", "HEADER.FIELDS section")
typ, data = imap.fetch("1", "(BODY[TEXT]<0.5>)")
check(data[0][1] == delivered.split(b"\r\n\r\n", 1)[1][:5], "partial TEXT section")
typ, data = imap.fetch("1", "(FLAGS)")
check(b"\\Seen" in data[0], "BODY[] without PEEK sets \\Seen")

# --- STORE, SEARCH. --------------------------------------------------------------------------
typ, data = imap.store("1", "+FLAGS", "(\\Flagged $Important)")
check(b"\\Flagged" in data[0] and b"$Important" in data[0], "STORE +FLAGS answers the new flags")
typ, data = imap.store("1", "-FLAGS.SILENT", "(\\Seen)")
check(typ == "OK" and data == [None], "STORE .SILENT answers no FETCH")
check(imap.search(None, "FLAGGED")[1] == [b"1"], "SEARCH FLAGGED")
check(imap.search(None, "UNSEEN")[1] == [b"1"], "SEARCH UNSEEN")
check(imap.search(None, "SEEN")[1] == [b""], "SEARCH SEEN finds nothing")
check(imap.search(None, 'SUBJECT "quarterly"')[1] == [b"1"], "SEARCH SUBJECT substring")
check(imap.search(None, "FROM", "alice@example.com")[1] == [b"1"], "SEARCH FROM")
check(imap.search(None, "NOT", "LARGER", "100000")[1] == [b"1"], "SEARCH NOT LARGER")
check(imap.uid("SEARCH", "ALL")[1] == [b"1"], "UID SEARCH")

# --- APPEND with UIDPLUS, then MOVE to Deleted Items, then EXPUNGE there. ----------------------
second = b"From: bob@example.com\r\nSubject: Second\r\n\r\nhello\r\n"
typ, data = imap.append("INBOX", "(\\Seen)", None, second)
m = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
check(typ == "OK" and m and m.group(1) == uidvalidity and m.group(2) == b"2", "APPEND answers APPENDUID")
typ, data = imap.noop()
check(imap.response("EXISTS")[1][-1] == b"2", "new message announced with EXISTS")
typ, data = imap.uid("MOVE", "1", '"Deleted Items"')
copyuid = [r for r in imap.untagged_responses.get("OK", []) if b"COPYUID" in r]
check(typ == "OK" and copyuid and re.search(rb"COPYUID \d+ 1 1", copyuid[-1]), "UID MOVE answers COPYUID")
check(imap.response("EXPUNGE")[1][-1] == b"1", "MOVE expunges from the source")
typ, data = imap.select('"Deleted Items"')
check(typ == "OK" and data[0] == b"1", "moved message is in Deleted Items")
typ, data = imap.fetch("1", "(FLAGS BODY.PEEK[])")
check(b"\\Flagged" in data[0][0] and data[0][1] == delivered, "moved message keeps flags and bytes")
imap.store("1", "+FLAGS.SILENT", "(\\Deleted)")
typ, data = imap.expunge()
check(typ == "OK" and data == [b"1"], "EXPUNGE reports the expunged message")
typ, data = imap.select('"Deleted Items"')
check(data[0] == b"0", "Deleted Items is empty after EXPUNGE")
typ, data = imap.delete('"Deleted Items"')
check(typ == "NO" and b"[CANNOT]" in data[0], "default folder cannot be deleted")
check(imap.create("Projects/2026")[0] == "OK", "CREATE")
check(imap.rename("Projects/2026", "Archive")[0] == "OK", "RENAME")
status = imap.status("Archive", "(MESSAGES UIDNEXT)")[1][0]
check(b"MESSAGES 0" in status and b"UIDNEXT 1" in status, "STATUS of the renamed folder")

# --- Malformed commands get BAD and the session goes on; oversize literals are refused. -------
imap.send(b"X1 FETCH nonsense (((\r\n")
line = imap.readline()
check(line.startswith(b"X1 BAD"), "malformed command answered BAD")
imap.send(b"X2 APPEND INBOX {99999999}\r\n")
line = imap.readline()
check(line.startswith(b"X2 NO [TOOBIG]"), "oversize literal refused")
check(imap.noop()[0] == "OK", "session continues after BAD")

# --- LITERAL+ (non-synchronizing literal). ---------------------------------------------------
literal = b"Subject: plus\r\n\r\nx\r\n"
imap.send(b"X3 APPEND INBOX {%d+}\r\n" % len(literal) + literal + b"\r\n")
line = imap.readline()
check(line.startswith(b"X3 OK [APPENDUID"), "APPEND with a LITERAL+ literal")

# --- IDLE wakes on a delivery from another session. ------------------------------------------
imap.select("INBOX")
exists_before = int(imap.response("EXISTS")[1][-1])
imap.send(b"I1 IDLE\r\n")
check(imap.readline().startswith(b"+"), "IDLE accepted")
other = imaplib.IMAP4_SSL("127.0.0.1", tls_port, ssl_context=context)
other.login(user, password)
other.append("INBOX", None, None, b"Subject: wake up\r\n\r\nnew\r\n")
other.logout()
woke = None
while woke is None:
    line = imap.readline()
    if line.endswith(b"EXISTS\r\n"):
        woke = int(line.split()[1])
check(woke == exists_before + 1, "IDLE announced the new message")
imap.send(b"DONE\r\n")
while True:
    line = imap.readline()
    if line.startswith(b"I1 "):
        break
check(line.startswith(b"I1 OK"), "DONE ends IDLE")

typ, data = imap.select("INBOX")
check(imap.response("UIDVALIDITY")[1][0] == uidvalidity, "UIDVALIDITY persists")
imap.logout()
print("all checks passed")
