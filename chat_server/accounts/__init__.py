"""Accounts: registering, signing in and out, passwords and their reset codes (the HTTP API's
account handlers call ``AccountService``; the rows are read and written in persistence/)."""
