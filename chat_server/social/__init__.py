"""Social ties (issue 17): notifications and reactions (part A); friends, following, the
feed and profiles (part B)."""
