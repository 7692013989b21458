//! Chat retention settings and the hidden/restored/purged message states. Spec: chime-zh.md §1.9, §2.6.
