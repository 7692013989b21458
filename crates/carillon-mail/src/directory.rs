//! WorkMail directory objects and their admin operations. Spec: workmail.md §1, §2.
