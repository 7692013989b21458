//! Authentication of mail users (IMAP LOGIN, SMTP AUTH) against the directory.
