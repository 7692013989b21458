-- DKIM key rotation (workmail.md §1.3, issue 3 point 1): a key's place in a rotation.
-- ACTIVE keys sign; PENDING keys (a rotation's new pair) wait for their DNS records, then
-- become ACTIVE while the former ACTIVE ones become RETIRING; a RETIRING key stays until its
-- record is gone from DNS, then is deleted.
ALTER TABLE dkim_keys ADD COLUMN state TEXT NOT NULL DEFAULT 'ACTIVE';
