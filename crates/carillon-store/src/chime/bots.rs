//! Chat bots, their events configuration, and incoming webhooks. Spec: chime-zh.md §1.16–§1.18.
