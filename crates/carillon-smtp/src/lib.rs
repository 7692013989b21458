//! SMTP protocol edge: inbound (MX) and submission listeners, outbound delivery queue.
