"""Where an order becomes a fill: ``base`` (the Broker protocol, two-step prepare/submit),
``paper`` (walks the real book, the default) and ``live`` (the CLOB SDK, imported only in live mode)."""
