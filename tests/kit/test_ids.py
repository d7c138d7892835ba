"""Codes that people read off posters and type on phones."""

from __future__ import annotations

import pytest

from siyu.kit.ids import READABLE_ALPHABET, readable_code, token


class TestReadableCode:
    @pytest.mark.parametrize("length", [4, 8, 12])
    def test_length_and_alphabet(self, length: int) -> None:
        code = readable_code(length)
        assert len(code) == length
        assert set(code) <= set(READABLE_ALPHABET)

    def test_alphabet_has_no_look_alikes(self) -> None:
        assert set("01OIL") & set(READABLE_ALPHABET) == set()
        assert READABLE_ALPHABET.isupper()

    def test_codes_vary(self) -> None:
        assert len({readable_code() for _ in range(200)}) == 200


class TestToken:
    def test_url_safe_and_long_enough(self) -> None:
        value = token()
        assert len(value) >= 43
        assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
