"""Turning decisions into orders: ``executor`` copies new fills in batches, ``positions`` manages
what was bought (exits, resolution), ``killswitch`` keeps the pause state in the store."""
