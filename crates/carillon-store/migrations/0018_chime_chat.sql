-- Chat additions to the Chime core (0016). Spec: chime-zh.md §1.10.

-- A 1:1 conversation's pair of user IDs ("<smaller>|<larger>"), so the same two users
-- reuse their conversation even when both create it at once; NULL for a group.
ALTER TABLE chime_conversations ADD COLUMN pair_key TEXT;
CREATE UNIQUE INDEX chime_conversations_by_pair ON chime_conversations (pair_key);

-- A member's rooms in room ID order (ListRooms' MemberId filter, a client's room list).
CREATE INDEX chime_room_memberships_by_member_room ON chime_room_memberships (member_id, room_id);

-- CreateRoom's ClientRequestToken: a retried request with the same token gets the room it
-- created the first time instead of a second room.
ALTER TABLE chime_rooms ADD COLUMN client_request_token TEXT;
CREATE UNIQUE INDEX chime_rooms_by_request_token ON chime_rooms (chime_account_id, client_request_token);
