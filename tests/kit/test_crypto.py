"""Phones: normalised, encrypted at rest, found by a keyed blind index, shown masked.

These tests configure their own settings (not the DB-parametrised ``settings`` fixture), so they
run once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from hypothesis import given
from hypothesis import strategies as st

from siyu.config import Settings, configure
from siyu.kit.crypto import (
    PhoneInvalid,
    blind_index,
    decrypt,
    encrypt,
    mask_phone,
    normalize_phone,
)

KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()

phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


def _configure_key(tmp_path: Path, key: str | None) -> Settings:
    return configure(Settings(environment="test", data_dir=tmp_path / "data", encryption_key=key))


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Settings]:
    yield _configure_key(tmp_path, KEY)
    _configure_key(tmp_path, KEY)


class TestNormalizePhone:
    @pytest.mark.parametrize(
        "raw",
        [
            "13800138000",
            " 13800138000 ",
            "138 0013 8000",
            "138-0013-8000",
            "+8613800138000",
            "+86 138 0013 8000",
        ],
    )
    def test_accepts_mainland_mobile_spellings(self, raw: str) -> None:
        assert normalize_phone(raw) == "13800138000"

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "1380013800",
            "138001380001",
            "12800138000",
            "23800138000",
            "1380013800a",
            "+85213800138000",
            "(138)00138000",
        ],
    )
    def test_refuses_others_in_chinese(self, raw: str) -> None:
        with pytest.raises(PhoneInvalid) as caught:
            normalize_phone(raw)
        assert caught.value.status == 422
        assert caught.value.zh.startswith("手机号格式不正确")
        assert f"“{raw}”" in caught.value.zh


class TestMaskPhone:
    def test_masks_the_middle_four(self) -> None:
        assert mask_phone("13800138000") == "138****8000"

    @pytest.mark.parametrize("value", ["", "1380013800", "138001380001"])
    def test_hides_everything_when_not_eleven_digits(self, value: str) -> None:
        assert mask_phone(value) == "****"

    @given(phones)
    def test_never_shows_the_middle(self, phone: str) -> None:
        masked = mask_phone(phone)
        assert masked == phone[:3] + "****" + phone[-4:]
        assert phone[3:7] not in masked[3:7]


class TestEncryption:
    def test_round_trips_and_hides_the_plain_text(self, keyed: Settings) -> None:
        token = encrypt("13800138000")
        assert "13800138000" not in token
        assert decrypt(token) == "13800138000"

    def test_same_plain_text_encrypts_differently(self, keyed: Settings) -> None:
        assert encrypt("13800138000") != encrypt("13800138000")

    def test_another_key_cannot_decrypt(self, keyed: Settings, tmp_path: Path) -> None:
        token = encrypt("13800138000")
        _configure_key(tmp_path, OTHER_KEY)
        with pytest.raises(InvalidToken):
            decrypt(token)

    def test_generated_key_is_kept_in_the_data_dir(self, tmp_path: Path) -> None:
        try:
            _configure_key(tmp_path, None)
            token = encrypt("13800138000")
            _configure_key(tmp_path, None)  # a restart: settings read again, key read from disk
            assert decrypt(token) == "13800138000"
            assert (tmp_path / "data" / "encryption.key").stat().st_mode & 0o777 == 0o600
        finally:
            _configure_key(tmp_path, KEY)


class TestBlindIndex:
    def test_is_stable_hex_for_the_same_key(self, keyed: Settings) -> None:
        first = blind_index("13800138000")
        assert re.fullmatch(r"[0-9a-f]{64}", first)
        assert blind_index("13800138000") == first

    def test_differs_by_value(self, keyed: Settings) -> None:
        assert blind_index("13800138000") != blind_index("13800138001")

    def test_differs_by_key(self, keyed: Settings, tmp_path: Path) -> None:
        first = blind_index("13800138000")
        _configure_key(tmp_path, OTHER_KEY)
        assert blind_index("13800138000") != first

    def test_does_not_contain_the_value(self, keyed: Settings) -> None:
        assert "13800138000" not in blind_index("13800138000")

    @given(phones, phones)
    def test_equal_exactly_when_values_are_equal(self, first: str, second: str) -> None:
        configure(Settings(environment="test", encryption_key=KEY))
        assert (blind_index(first) == blind_index(second)) == (first == second)
