"""Talking to the outside: pooled HTTP clients with retries and rate limits (``http``), bounded
caches (``cache``), and the CLOB / Gamma market data the copy decisions need (``market``)."""
