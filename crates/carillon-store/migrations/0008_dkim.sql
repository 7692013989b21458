-- Mail authentication (carillon-mail). Spec: workmail.md §1.3 (DKIM records), §2.25 (DMARC).
-- DKIM signing keys of a mail domain, one row per selector. The private key is a secret:
-- PKCS#8 DER (Ed25519) or PKCS#1 DER (RSA), base64. Rows outlive a deregistered domain
-- harmlessly: signing joins mail_domains, and re-registration replaces them.
CREATE TABLE dkim_keys (
    domain_name TEXT NOT NULL,
    selector TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (domain_name, selector)
);

-- Inbound DMARC enforcement per organization; no row means enforced (the default).
CREATE TABLE inbound_dmarc_settings (
    organization_id TEXT PRIMARY KEY REFERENCES organizations (organization_id),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    enforced BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
