#!/usr/bin/env python3
"""Chime chat end to end (issue 4 point 3, chime-zh.md §1.10, §2.6) with real clients: the
`aws chime` CLI, imaplib (the invitations), urllib (the chat REST API) and the PyPI
`websockets` client (the /chat/v1/stream WebSocket).

Two users are invited with `aws chime invite-users` into Carillon mailboxes, register from
their links and sign in. Checks: `aws chime create-room`, `create-room-membership`,
`batch-create-room-membership` (per-member errors), `list-rooms --member-id`,
`list-room-memberships`, `update-room`; both users connected to the stream (one with the
Authorization header, one with ?token=), presence Online seen; Mary's post reaches John's
stream within 100 ms of being stored; John's @mention of Mary resolves to her user ID; an edit
is seen; history newest first with a cursor; `aws chime redact-room-message` is seen by both
clients and the history keeps no content; `update-room-membership` and
`delete-room-membership` are seen as membership frames; a 1:1 conversation is reused and
`aws chime redact-conversation-message` reaches it; `logout-user` closes John's stream;
`delete-room` tells Mary's stream and purges the room; another tenant's key sees none of it.

Usage: chime_chat.py --carillon PATH [--database-url URL]
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import re
import sys
import tempfile
import time

import websockets
from websockets.asyncio.client import connect

from harness import FAILURES, PASSWORD, Carillon, aws, check, fetch_all, imap_connect, send

# The organization "chat"'s default mail domain (alias + the server's hostname).
DOMAIN = "chat.localhost"
USER_PASSWORD = "correct horse battery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    parser.add_argument("--database-url", help="PostgreSQL metadata instead of SQLite")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="carillon-e2e-chime-chat-")
    server = Carillon(args.carillon, tmp, [], database_url=args.database_url)
    try:
        asyncio.run(run(server))
    finally:
        server.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


def chime(server, creds, *args, expect_error=None):
    return aws(server, creds, "chime", *args, "--region", "us-east-1", expect_error=expect_error)


def rest(server, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else b""
    return send(method, server.endpoint + path, data, headers)


def registration_link(server, address):
    """The registration link of the newest invitation in the address's INBOX."""
    deadline = time.time() + 30
    links = []
    while not links and time.time() < deadline:
        imap = imap_connect(server, address)
        bodies = fetch_all(imap, "INBOX")
        imap.logout()
        for body in bodies:
            message = email.message_from_bytes(body, policy=email.policy.default)
            text = message.get_body(preferencelist=("plain",)).get_content()
            links += re.findall(r"https?://[^\s\"<>]+/chat/v1/register\?token=[A-Za-z0-9_-]+", text)
        if not links:
            time.sleep(0.2)
    check(bool(links), f"an invitation with a registration link reached {address}")
    return links[-1] if links else ""


def signed_in_user(server, admin, org, account, name, display):
    """Mailbox, invitation, registration and sign-in of `name`; (user ID, session token)."""
    uid = aws(server, admin, "workmail", "create-user", "--organization-id", org, "--name", name,
              "--display-name", display, "--password", PASSWORD)["UserId"]
    aws(server, admin, "workmail", "register-to-work-mail", "--organization-id", org,
        "--entity-id", uid, "--email", f"{name}@{DOMAIN}")
    chime(server, admin, "invite-users", "--account-id", account, "--user-email-list",
          f"{name}@{DOMAIN}")
    link = registration_link(server, f"{name}@{DOMAIN}")
    token = link.split("token=", 1)[-1]
    status, _, body = rest(server, "POST", "/chat/v1/register",
                           {"Token": token, "Password": USER_PASSWORD, "DisplayName": display})
    check(status == 200, f"{name} registers: {status} {body}")
    status, _, session = rest(server, "POST", "/chat/v1/sign-in",
                              {"Email": f"{name}@{DOMAIN}", "Password": USER_PASSWORD})
    check(status == 200 and session.get("SessionToken") and session.get("ExpiresAt"),
          f"{name} signs in: {status} {session}")
    return session.get("UserId", ""), session.get("SessionToken", "")


class Stream:
    """A WebSocket client of /chat/v1/stream that keeps every frame with its arrival time."""

    def __init__(self, ws):
        self.ws = ws
        self.frames = []
        self.closed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                self.frames.append((time.monotonic(), json.loads(raw)))
        except websockets.ConnectionClosed:
            pass
        self.closed.set()

    async def wait_for(self, predicate, what, timeout=5.0):
        """The first frame matching `predicate` (and its arrival time), waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, frame in self.frames:
                if predicate(frame):
                    return at, frame
            await asyncio.sleep(0.005)
        check(False, f"{what} (frames: {[f for _, f in self.frames][-5:]})")
        return None, {}


async def run(server):
    admin = os.path.join(server.data_dir, "admin-credentials")
    org = aws(server, admin, "workmail", "create-organization", "--alias", "chat")["OrganizationId"]
    account = chime(server, admin, "create-account", "--name", "Chat Team")["Account"]["AccountId"]
    mary_id, mary_token = signed_in_user(server, admin, org, account, "mary", "Mary Major")
    john_id, john_token = signed_in_user(server, admin, org, account, "john", "John Doe")

    status, _, body = rest(server, "POST", "/chat/v1/sign-in",
                           {"Email": f"mary@{DOMAIN}", "Password": "wrong password"})
    check(status == 401 and body.get("Code") == "UnauthorizedClientException",
          f"a wrong password is 401: {status} {body}")
    status, _, body = rest(server, "GET", "/chat/v1/rooms", token="not-a-session")
    check(status == 401, f"a bad bearer token is 401: {status} {body}")

    # The administrator makes a room and puts both users in it.
    room = chime(server, admin, "create-room", "--account-id", account, "--name", "Launch")["Room"]
    room_id = room["RoomId"]
    check(room["Name"] == "Launch" and room["AccountId"] == account
          and room.get("CreatedBy", "").startswith("arn:aws:iam::"), f"create-room: {room}")
    made = chime(server, admin, "create-room-membership", "--account-id", account, "--room-id",
                 room_id, "--member-id", mary_id, "--role", "Administrator")["RoomMembership"]
    check(made["Role"] == "Administrator" and made["Member"]["Email"] == f"mary@{DOMAIN}"
          and made["Member"]["FullName"] == "Mary Major",
          f"create-room-membership shows the member: {made}")
    errors = chime(server, admin, "batch-create-room-membership", "--account-id", account,
                   "--room-id", room_id, "--membership-item-list",
                   f"MemberId={john_id},Role=Member", "MemberId=ghost,Role=Member")["Errors"]
    check([(e["MemberId"], e["ErrorCode"]) for e in errors] == [("ghost", "NotFound")],
          f"batch-create-room-membership reports the unknown member: {errors}")
    err = chime(server, admin, "create-room-membership", "--account-id", account, "--room-id",
                room_id, "--member-id", john_id, expect_error=True)
    check("ConflictException" in err, f"a second membership conflicts: {err}")
    rooms = chime(server, admin, "list-rooms", "--account-id", account, "--member-id", john_id)["Rooms"]
    check([r["RoomId"] for r in rooms] == [room_id], f"list-rooms --member-id: {rooms}")
    memberships = chime(server, admin, "list-room-memberships", "--account-id", account,
                        "--room-id", room_id)["RoomMemberships"]
    check(sorted(m["Member"]["MemberId"] for m in memberships) == sorted([mary_id, john_id]),
          f"list-room-memberships: {memberships}")
    renamed = chime(server, admin, "update-room", "--account-id", account, "--room-id", room_id,
                    "--name", "Launch Room")["Room"]
    check(renamed["Name"] == "Launch Room", f"update-room renames: {renamed}")

    # Both users on the stream: Mary with the header, John with ?token= (browser style).
    ws_base = server.endpoint.replace("http://", "ws://") + "/chat/v1/stream"
    try:
        async with connect(ws_base, additional_headers={"Authorization": "Bearer nope"}):
            check(False, "a bad session must not upgrade")
    except websockets.InvalidStatus as e:
        check(e.response.status_code == 401, f"a bad session is 401 before the upgrade: {e}")
    mary_ws = Stream(await connect(ws_base, additional_headers={"Authorization": f"Bearer {mary_token}"}))
    await mary_ws.wait_for(lambda f: f["Type"] == "Ready", "Mary's stream is ready")
    john_ws = Stream(await connect(f"{ws_base}?token={john_token}"))
    await john_ws.wait_for(lambda f: f["Type"] == "Ready", "John's stream is ready")
    await mary_ws.wait_for(lambda f: f == {"Type": "Presence", "UserId": john_id, "Status": "Online"},
                           "Mary sees John come online")
    await john_ws.wait_for(lambda f: f.get("Type") == "Presence" and f.get("UserId") == mary_id,
                           "John is told Mary is online")

    status, _, listed = rest(server, "GET", "/chat/v1/rooms", token=john_token)
    check(status == 200 and [r["RoomId"] for r in listed["Rooms"]] == [room_id],
          f"John lists his rooms: {listed}")

    # Real time: Mary's message reaches John's stream within 100 ms.
    status, _, posted = rest(server, "POST", f"/chat/v1/rooms/{room_id}/messages",
                             {"Content": "Hello **John**, launch at 5"}, mary_token)
    stored_at = time.monotonic()
    check(status == 201, f"Mary posts: {status} {posted}")
    message_id = posted.get("Message", {}).get("MessageId")
    at, frame = await john_ws.wait_for(
        lambda f: f["Type"] == "Message" and f["Message"]["MessageId"] == message_id,
        "John's stream receives Mary's message")
    if at is not None:
        delay = max(0.0, at - stored_at)
        check(delay < 0.1, f"delivered within 100 ms of being stored ({delay * 1000:.1f} ms)")
        check(frame["Change"] == "Created" and frame["Message"]["SenderName"] == "Mary Major"
              and frame["Message"]["Content"] == "Hello **John**, launch at 5"
              and frame["Message"]["RoomId"] == room_id, f"the frame carries the message: {frame}")

    # An @mention resolves to the member.
    status, _, reply = rest(server, "POST", f"/chat/v1/rooms/{room_id}/messages",
                            {"Content": "@mary sounds good, @All see you there"}, john_token)
    check(status == 201 and reply["Message"]["Mentions"] == [mary_id],
          f"@mary (and @All, everyone but the sender) mention Mary: {reply}")
    reply_id = reply.get("Message", {}).get("MessageId")
    _, seen = await mary_ws.wait_for(
        lambda f: f["Type"] == "Message" and f["Message"]["MessageId"] == reply_id,
        "Mary's stream receives John's mention")
    check(seen.get("Message", {}).get("Mentions") == [mary_id], f"the mention reaches Mary: {seen}")

    # Editing one's own message; someone else's is refused.
    status, _, edited = rest(server, "PATCH", f"/chat/v1/rooms/{room_id}/messages/{message_id}",
                             {"Content": "Hello John, launch at 6"}, mary_token)
    check(status == 200 and edited["Message"]["LastEditedTimestamp"], f"Mary edits: {status} {edited}")
    await john_ws.wait_for(lambda f: f["Type"] == "Message" and f["Change"] == "Edited"
                           and f["Message"]["Content"] == "Hello John, launch at 6",
                           "John sees the edit")
    status, _, body = rest(server, "PATCH", f"/chat/v1/rooms/{room_id}/messages/{message_id}",
                           {"Content": "mine"}, john_token)
    check(status == 403, f"John cannot edit Mary's message: {status} {body}")
    status, _, body = rest(server, "POST", f"/chat/v1/rooms/{room_id}/messages",
                           {"Content": "x" * 4097}, john_token)
    check(status == 400 and body.get("Code") == "BadRequestException", f"over 4 KB is 400: {body}")

    # History, newest first, page by page.
    status, _, page = rest(server, "GET", f"/chat/v1/rooms/{room_id}/messages?max-results=1",
                           token=mary_token)
    check(status == 200 and [m["MessageId"] for m in page["Messages"]] == [reply_id]
          and page.get("NextToken"), f"the newest message first: {page}")
    status, _, older = rest(server, "GET", f"/chat/v1/rooms/{room_id}/messages?max-results=1"
                            f"&next-token={page.get('NextToken')}", token=mary_token)
    check(status == 200 and [m["MessageId"] for m in older["Messages"]] == [message_id],
          f"then the older one: {older}")

    # Redaction by the administrator is seen by both clients; the content is gone.
    chime(server, admin, "redact-room-message", "--account-id", account, "--room-id", room_id,
          "--message-id", message_id)
    for name, stream in (("Mary", mary_ws), ("John", john_ws)):
        _, frame = await stream.wait_for(
            lambda f: f["Type"] == "Message" and f["Change"] == "Redacted"
            and f["Message"]["MessageId"] == message_id, f"{name} sees the redaction")
        check(frame.get("Message", {}).get("Content") is None
              and frame.get("Message", {}).get("Redacted") is True,
              f"{name}'s frame has no content: {frame}")
    status, _, after = rest(server, "GET", f"/chat/v1/rooms/{room_id}/messages", token=john_token)
    redacted = [m for m in after.get("Messages", []) if m["MessageId"] == message_id]
    check(len(redacted) == 1 and redacted[0]["Content"] is None and "launch" not in json.dumps(after),
          f"the history keeps no content: {after}")
    err = chime(server, admin, "redact-room-message", "--account-id", account, "--room-id", room_id,
                "--message-id", "no-such-message", expect_error=True)
    check("NotFoundException" in err, f"redacting an unknown message is NotFound: {err}")

    # Membership changes are seen.
    chime(server, admin, "update-room-membership", "--account-id", account, "--room-id", room_id,
          "--member-id", john_id, "--role", "Administrator")
    await mary_ws.wait_for(lambda f: f["Type"] == "Membership" and f["Change"] == "RoleChanged"
                           and f["MemberId"] == john_id and f["Role"] == "Administrator",
                           "Mary sees John become an administrator")

    # A 1:1 conversation, reused, and its redaction.
    status, _, convo = rest(server, "POST", "/chat/v1/conversations", {"Members": [f"john@{DOMAIN}"]},
                            mary_token)
    check(status == 201 and not convo["Conversation"]["IsGroup"], f"Mary starts a 1:1: {status} {convo}")
    convo_id = convo.get("Conversation", {}).get("ConversationId")
    status, _, again = rest(server, "POST", "/chat/v1/conversations", {"Members": [mary_id]}, john_token)
    check(status == 200 and again["Conversation"]["ConversationId"] == convo_id,
          f"John's 1:1 with Mary is the same conversation: {status} {again}")
    status, _, dm = rest(server, "POST", f"/chat/v1/conversations/{convo_id}/messages",
                         {"Content": "private note"}, john_token)
    dm_id = dm.get("Message", {}).get("MessageId")
    await mary_ws.wait_for(lambda f: f["Type"] == "Message" and f["Message"].get("ConversationId") == convo_id,
                           "Mary receives John's direct message")
    chime(server, admin, "redact-conversation-message", "--account-id", account, "--conversation-id",
          convo_id, "--message-id", dm_id)
    await mary_ws.wait_for(lambda f: f["Type"] == "Message" and f["Change"] == "Redacted"
                           and f["Message"]["MessageId"] == dm_id, "Mary sees the conversation redaction")

    chime(server, admin, "delete-room-membership", "--account-id", account, "--room-id", room_id,
          "--member-id", john_id)
    for name, stream in (("Mary", mary_ws), ("John", john_ws)):
        await stream.wait_for(lambda f: f["Type"] == "Membership" and f["Change"] == "Removed"
                              and f["MemberId"] == john_id, f"{name} sees John removed")
    status, _, body = rest(server, "POST", f"/chat/v1/rooms/{room_id}/messages", {"Content": "hi"},
                           john_token)
    check(status == 403, f"a removed member cannot post: {status} {body}")

    # Another tenant's key sees none of it, even through its own Chime account.
    other = os.path.join(server.data_dir, "other-credentials")
    server.cli("accounts", "create", "--name", "other", "--credentials-out", other)
    theirs = chime(server, other, "create-account", "--name", "Theirs")["Account"]["AccountId"]
    for acct in (account, theirs):
        err = chime(server, other, "get-room", "--account-id", acct, "--room-id", room_id,
                    expect_error=True)
        check("NotFoundException" in err, f"another tenant does not see the room: {err}")
        err = chime(server, other, "redact-room-message", "--account-id", acct, "--room-id",
                    room_id, "--message-id", reply_id, expect_error=True)
        check("NotFoundException" in err, f"another tenant cannot redact: {err}")
    check(chime(server, other, "list-rooms", "--account-id", theirs)["Rooms"] == [],
          "another tenant lists no room")

    # logout-user closes John's stream.
    chime(server, admin, "logout-user", "--account-id", account, "--user-id", john_id)
    await john_ws.wait_for(lambda f: f == {"Type": "SessionEnded", "Reason": "Revoked"},
                           "John's stream is told its session ended")
    try:
        await asyncio.wait_for(john_ws.closed.wait(), 5)
    except asyncio.TimeoutError:
        pass
    check(john_ws.closed.is_set(), "John's stream is closed")
    await mary_ws.wait_for(lambda f: f == {"Type": "Presence", "UserId": john_id, "Status": "Offline"},
                           "Mary sees John go offline")

    # Deleting the room tells Mary and purges it.
    chime(server, admin, "delete-room", "--account-id", account, "--room-id", room_id)
    await mary_ws.wait_for(lambda f: f == {"Type": "RoomDeleted", "RoomId": room_id},
                           "Mary's stream is told the room was deleted")
    status, _, body = rest(server, "GET", f"/chat/v1/rooms/{room_id}/messages", token=mary_token)
    check(status == 404, f"the deleted room's history is gone: {status} {body}")
    err = chime(server, admin, "get-room", "--account-id", account, "--room-id", room_id,
                expect_error=True)
    check("NotFoundException" in err, f"get-room after delete-room: {err}")

    status, _, _ = rest(server, "POST", "/chat/v1/sign-out", token=mary_token)
    check(status == 204, f"Mary signs out ({status})")
    await mary_ws.ws.close()


if __name__ == "__main__":
    main()
