//! Chat sessions, rooms, memberships, conversations and messages. Spec: chime-zh.md §1.10.
