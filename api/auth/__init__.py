"""Sign-in: accounts with one role and its tenant, password hashing, access tokens, rate limit."""
