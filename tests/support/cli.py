"""`weilinli …` run as an operator runs it: a child process on the suite's data directory and database."""

from __future__ import annotations

import subprocess
import sys

from settings import get_settings


def cli(*args: str) -> subprocess.CompletedProcess:
    s = get_settings()
    env = {"PATH": "/usr/bin:/bin", "WEILINLI_DATA_DIR": str(s.data_dir), "HOME": "/tmp",
           **({"WEILINLI_DATABASE_URL": s.database_url} if s.database_url else {})}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)
