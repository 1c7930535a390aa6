"""Private conversations (issue 17, part 4): docs/social.md, "Private messages"."""
