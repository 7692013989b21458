-- Chime phone numbers (carillon-chime): the operator's number pool served by the built-in
-- carrier adapter, each tenant's inventory, number orders, porting orders, and the
-- phone-number and global settings. Spec: chime-zh.md §1.12, §2.13, §2.14, §4;
-- chime-ja.md §4; chime-ko.md §1.8, §4.

-- A number the operator owns (imported with `carillon phone-numbers import`, or ported in).
-- `account_id` is the tenant holding it (ordered or ported in); NULL while it is available.
CREATE TABLE chime_phone_number_pool (
    e164 TEXT PRIMARY KEY,
    -- ISO 3166 alpha-2.
    country TEXT NOT NULL,
    -- Model PhoneNumberType: Local | TollFree.
    number_type TEXT NOT NULL,
    -- Capabilities: 0/1.
    voice BIGINT NOT NULL,
    sms BIGINT NOT NULL,
    mms BIGINT NOT NULL,
    city TEXT,
    state TEXT,
    account_id TEXT REFERENCES accounts (account_id),
    held_at BIGINT,
    -- Import | PortIn
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chime_phone_number_pool_by_holder ON chime_phone_number_pool (account_id, e164);

-- A number of a tenant's inventory, from `AcquireInProgress` (Orders/Pending) to
-- `Unassigned`/`Assigned` (Inventory) or `DeleteInProgress` (the 7-day deletion queue,
-- `deletion_at` set). The PhoneNumberId is the E.164 number.
CREATE TABLE chime_phone_numbers (
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    e164 TEXT NOT NULL,
    country TEXT NOT NULL,
    number_type TEXT NOT NULL,
    -- Model PhoneNumberProductType: BusinessCalling | VoiceConnector | SipMediaApplicationDialIn.
    product_type TEXT NOT NULL,
    -- Model PhoneNumberStatus.
    status TEXT NOT NULL,
    voice BIGINT NOT NULL,
    sms BIGINT NOT NULL,
    mms BIGINT NOT NULL,
    -- The unique outbound calling name and when it was last set (72 h to apply).
    calling_name TEXT,
    calling_name_updated_at BIGINT,
    -- The Business Calling user it is assigned to, with that user's Chime account.
    user_id TEXT,
    chime_account_id TEXT,
    associated_at BIGINT,
    -- The order that brought it (a number order or a porting order).
    order_id TEXT NOT NULL,
    deletion_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, e164)
);
-- One number per user.
CREATE UNIQUE INDEX chime_phone_numbers_by_user ON chime_phone_numbers (user_id);
CREATE INDEX chime_phone_numbers_deletion ON chime_phone_numbers (status, deletion_at);

-- A CreatePhoneNumberOrder order: Processing, then Successful | Partial | Failed.
CREATE TABLE chime_phone_number_orders (
    order_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    product_type TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chime_phone_number_orders_by_account
    ON chime_phone_number_orders (account_id, created_at, order_id);

-- The numbers of an order: Processing, then Acquired | Failed.
CREATE TABLE chime_phone_number_order_numbers (
    order_id TEXT NOT NULL REFERENCES chime_phone_number_orders (order_id),
    e164 TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (order_id, e164)
);

-- Per tenant: the default outbound calling name (once every 7 days) and the CDR buckets of
-- the global settings.
CREATE TABLE chime_phone_settings (
    account_id TEXT PRIMARY KEY REFERENCES accounts (account_id),
    calling_name TEXT,
    calling_name_updated_at BIGINT,
    business_calling_cdr_bucket TEXT,
    voice_connector_cdr_bucket TEXT,
    updated_at BIGINT NOT NULL
);

-- A port-in or port-out order (§4.4): SUBMITTED … COMPLETED | CANCELLED.
CREATE TABLE chime_porting_orders (
    porting_order_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    -- PortIn | PortOut
    direction TEXT NOT NULL,
    product_type TEXT NOT NULL,
    country TEXT NOT NULL,
    number_type TEXT NOT NULL,
    status TEXT NOT NULL,
    -- JSON object of the request's description fields (BTN, carrier, port date, …).
    details TEXT NOT NULL,
    -- Port-out: Argon2id PHC string of the PIN the winning carrier must present.
    pin_hash TEXT,
    -- Why the status last changed (what Support tells the customer).
    status_message TEXT,
    -- Firm Order Commitment date and time, epoch ms.
    foc_at BIGINT,
    -- End of the 10-day document-upload window (NULL: no link issued).
    upload_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chime_porting_orders_by_account
    ON chime_porting_orders (account_id, created_at, porting_order_id);

CREATE TABLE chime_porting_order_numbers (
    porting_order_id TEXT NOT NULL REFERENCES chime_porting_orders (porting_order_id),
    e164 TEXT NOT NULL,
    PRIMARY KEY (porting_order_id, e164)
);

-- A document uploaded through the 10-day link (LOA, invoice, …); the content is a blob.
CREATE TABLE chime_porting_documents (
    porting_order_id TEXT NOT NULL REFERENCES chime_porting_orders (porting_order_id),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (porting_order_id, name)
);
