"""Social ties (issue 17): notifications and reactions (part A)."""
