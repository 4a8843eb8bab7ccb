"""Where leader fills come from: ``etherscan`` (per-leader ``getLogs`` under a call budget) and
``rpc`` (one ``eth_getLogs`` per window for every leader), both decoded by the pure ``decode``
into attributed fills and returned as a ``base.PollResult`` (the sources store nothing)."""
