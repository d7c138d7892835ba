"""Settings: one class, SIYU_* environment, secrets kept in data_dir, one process-wide instance."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from siyu.config import Settings, configure, current_settings

SOURCE = Path(__file__).resolve().parents[1] / "src" / "siyu"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("SIYU_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    yield
    monkeypatch.undo()  # a test may have left an invalid SIYU_* value behind
    configure(Settings(environment="test", data_dir=tmp_path / "after"))


class TestDefaults:
    def test_single_machine_defaults(self) -> None:
        settings = Settings()
        assert settings.environment == "development"
        assert settings.data_dir == Path("data")
        assert settings.jobs_backend == "embedded"
        assert settings.platform_take_bp == 1000  # 10% take (product.md §3)
        assert settings.binding_mode == "first_bind_wins"
        assert settings.base_url == "http://127.0.0.1:8000"

    def test_database_defaults_to_sqlite_in_the_data_dir(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path / "d")
        assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'd' / 'siyu.db'}"
        assert settings.is_sqlite

    def test_explicit_database_url_wins(self) -> None:
        settings = Settings(database_url="postgresql+psycopg://siyu@db/siyu")
        assert settings.resolved_database_url == "postgresql+psycopg://siyu@db/siyu"
        assert not settings.is_sqlite


class TestEnvironment:
    def test_reads_siyu_prefixed_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SIYU_DATA_DIR", "/srv/siyu")
        monkeypatch.setenv("SIYU_JOBS_BACKEND", "redis")
        monkeypatch.setenv("SIYU_JOBS_WORKERS", "8")
        monkeypatch.setenv("SIYU_PLATFORM_TAKE_BP", "1500")
        settings = Settings()
        assert settings.data_dir == Path("/srv/siyu")
        assert settings.jobs_backend == "redis"
        assert settings.jobs_workers == 8
        assert settings.platform_take_bp == 1500

    def test_ignores_unprefixed_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
        monkeypatch.setenv("JOBS_BACKEND", "redis")
        settings = Settings()
        assert settings.database_url is None
        assert settings.jobs_backend == "embedded"

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("SIYU_JOBS_BACKEND", "rabbitmq"),
            ("SIYU_JOBS_WORKERS", "0"),
            ("SIYU_JOBS_WORKERS", "65"),
            ("SIYU_PLATFORM_TAKE_BP", "10001"),
            ("SIYU_PLATFORM_TAKE_BP", "-1"),
            ("SIYU_BINDING_MODE", "last_click"),
            ("SIYU_ENVIRONMENT", "staging"),
        ],
    )
    def test_refuses_invalid_values(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str
    ) -> None:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValidationError):
            Settings()


class TestSecrets:
    def test_generated_once_and_kept_private(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "d"
        first = Settings(data_dir=data_dir)
        secret = first.resolved_secret_key
        key = first.resolved_encryption_key
        assert len(secret) >= 32
        Fernet(key.encode())  # a valid Fernet key
        again = Settings(data_dir=data_dir)
        assert (again.resolved_secret_key, again.resolved_encryption_key) == (secret, key)
        for name in ("secret.key", "encryption.key"):
            assert (data_dir / name).stat().st_mode & 0o777 == 0o600

    def test_configured_values_are_used_and_nothing_is_written(self, tmp_path: Path) -> None:
        key = Fernet.generate_key().decode()
        settings = Settings(data_dir=tmp_path / "d", secret_key="s" * 40, encryption_key=key)
        assert settings.resolved_secret_key == "s" * 40
        assert settings.resolved_encryption_key == key
        assert not (tmp_path / "d").exists()

    def test_different_data_dirs_get_different_secrets(self, tmp_path: Path) -> None:
        one = Settings(data_dir=tmp_path / "one").resolved_secret_key
        two = Settings(data_dir=tmp_path / "two").resolved_secret_key
        assert one != two

    def test_upload_dir_is_created_inside_the_data_dir(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path / "d")
        assert settings.upload_dir == tmp_path / "d" / "uploads"
        assert settings.upload_dir.is_dir()


class TestProcessSettings:
    def test_configure_replaces_the_current_settings(self, tmp_path: Path) -> None:
        chosen = Settings(data_dir=tmp_path / "chosen")
        assert configure(chosen) is chosen
        assert current_settings() is chosen
        assert current_settings() is current_settings()


class TestOnlyConfigReadsTheEnvironment:
    def test_no_module_but_config_reads_environment_variables(self) -> None:
        reading = re.compile(r"os\.getenv\(|os\.environ\.get\(|os\.environ\[|getenv\(")
        offenders = [
            str(path.relative_to(SOURCE))
            for path in SOURCE.rglob("*.py")
            if path.name != "config.py" and reading.search(path.read_text(encoding="utf-8"))
        ]
        assert offenders == []


class TestEverySettingIsDocumented:
    def test_readme_names_every_setting(self) -> None:
        readme = (SOURCE.parent.parent / "README.md").read_text(encoding="utf-8")
        undocumented = [
            f"SIYU_{name.upper()}"
            for name in Settings.model_fields
            if f"`SIYU_{name.upper()}`" not in readme
        ]
        assert undocumented == []
