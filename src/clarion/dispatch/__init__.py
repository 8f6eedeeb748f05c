"""The dispatcher: claim -> send -> record, rate limits, reports, expiry, completion."""
