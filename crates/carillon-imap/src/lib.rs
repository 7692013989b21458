//! IMAP4rev1 protocol edge over the WorkMail mailbox store.
