"""A private talk with the navigator on duty (issue 17, part 5): docs/social.md."""
