//! Phone numbers, orders, porting orders, and phone-number and global settings. Spec: chime-zh.md §1.12, §2.13, §4.
