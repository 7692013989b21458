//! Chime users, their invitations, claimed domains and sign-in delegate groups. Spec: chime-zh.md §1.3, §1.4, §1.6.
