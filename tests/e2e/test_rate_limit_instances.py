"""Two server processes on one database are two instances: a user's minute spent on one is
spent on the other (RATE_LIMIT_PER_MINUTE is counted in PostgreSQL)."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.e2e.conftest import free_port, start_server, stop_server
from tests.integration.test_rate_limit import clear_of_a_minute_boundary


def test_a_minute_spent_on_one_instance_is_spent_on_the_other(database_url):
    ports = [free_port(), free_port()]
    env = {"DATABASE_URL": database_url, "RATE_LIMIT_PER_MINUTE": "10"}
    with ThreadPoolExecutor(2) as pool:
        servers = list(pool.map(lambda port: start_server(env, port), ports))
    first, second = (f"http://127.0.0.1:{port}" for port in ports)
    try:
        name = f"rl_{uuid.uuid4().hex[:10]}"
        user = {"username": name, "email": f"{name}@example.com", "password": "x" * 12}
        assert requests.post(f"{first}/auth/register", json=user, timeout=10).status_code == 201
        credentials = {"username": name, "password": user["password"]}
        login = requests.post(f"{first}/auth/login", json=credentials, timeout=10).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        clear_of_a_minute_boundary(margin_s=10)
        started = time.monotonic()
        spent = [requests.get(f"{first}/users/me", headers=headers, timeout=10) for _ in range(10)]
        assert [r.status_code for r in spent] == [200] * 10
        refused = requests.get(f"{second}/users/me", headers=headers, timeout=10)
        assert time.monotonic() - started < 10  # still the same minute
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
    finally:
        for server in servers:
            stop_server(server)
