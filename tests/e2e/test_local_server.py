"""`make dev` on the embedded defaults: starts its own PostgreSQL under DATA_DIR, and Ctrl-C
stops both the server and that database."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import free_port, start_server, stop_server


@pytest.mark.slow
def test_embedded_database_starts_migrates_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    process = start_server({"DATA_DIR": str(tmp_path)}, port, unset=("DATABASE_URL",))
    ready = requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=10)
    assert ready.status_code == 200
    postmaster = tmp_path / "pg" / "postmaster.pid"
    assert postmaster.exists()

    out = stop_server(process)
    assert process.returncode == 0, out
    assert "stopped the embedded PostgreSQL" in out
    assert not postmaster.exists()  # PostgreSQL removes it on a clean shutdown
