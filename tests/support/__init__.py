"""Helpers shared by every test folder: fixtures on disk, sandbox settings, the CLI, clocks.

Test modules import from here, never from each other.
"""
