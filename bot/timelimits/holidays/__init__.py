"""Operator holiday data files (YYYY.toml / YYYY.json); a package only so the files ship with it."""
