//! Usage reports and report figures. Spec: chime-ko.md §2.0.1, chime-zh.md §2.17.
