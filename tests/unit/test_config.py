from __future__ import annotations

import pytest

from core.config import MIN_SECRET_KEY_BYTES, Settings
from core.errors import ConfigError

STRONG = "k" * MIN_SECRET_KEY_BYTES


def test_production_without_secret_key_refuses_to_start(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        Settings.from_environ({"APP_ENV": "production", "DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize("env", ["local", "production"])
def test_weak_secret_key_refuses_to_start(env, tmp_path):
    with pytest.raises(ConfigError, match="too weak"):
        Settings.from_environ(
            {
                "APP_ENV": env,
                "SECRET_KEY": "k" * (MIN_SECRET_KEY_BYTES - 1),
                "DATA_DIR": str(tmp_path),
            }
        )


def test_local_mode_generates_a_key_once_and_keeps_it(tmp_path):
    first = Settings.from_environ({"DATA_DIR": str(tmp_path)})
    second = Settings.from_environ({"DATA_DIR": str(tmp_path)})
    assert len(first.signing_key()) >= MIN_SECRET_KEY_BYTES
    assert first.signing_key() == second.signing_key()
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_values_are_typed_from_strings_and_bad_values_name_the_variable(tmp_path):
    settings = Settings.from_environ(
        {"SECRET_KEY": STRONG, "DB_POOL_SIZE": "7", "DB_IAM_AUTH": "false"}
    )
    assert settings.db_pool_size == 7
    assert settings.db_iam_auth is False
    with pytest.raises(ConfigError, match="DB_POOL_SIZE"):
        Settings.from_environ({"SECRET_KEY": STRONG, "DB_POOL_SIZE": "many"})


def test_pool_defaults():
    settings = Settings.from_environ({"SECRET_KEY": STRONG})
    assert (settings.db_pool_size, settings.db_max_overflow, settings.db_pool_recycle_s) == (
        8,
        2,
        1800,
    )
    assert settings.access_token_ttl_s == 1800
