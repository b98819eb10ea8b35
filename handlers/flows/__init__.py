"""The declared dialog flows, one file each (see handlers/states.py)."""
