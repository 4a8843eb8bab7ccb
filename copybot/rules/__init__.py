"""The trading rules, pure: no I/O, no clock, no database (``tests/project/test_layout.py`` checks).

``risk`` decides one fill (an order or a skip with its reason), from ``sizing`` (how much, rounded
which way) and ``limits`` (caps, filters, kill switches); ``exits`` decides when a position closes;
``exposure`` aggregates what we hold for the caps.
"""
