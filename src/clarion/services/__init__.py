"""Use cases. Each opens a transaction, applies domain rules, and calls the store."""
