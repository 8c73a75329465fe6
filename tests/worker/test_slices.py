"""Very large array frames reach the protocol in slices that hold exactly the frame's text."""

from __future__ import annotations

import orjson
import pytest

from provider_image import intake
from provider_image.intake import slices


@pytest.fixture(autouse=True)
def three_per_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intake, "SLICE_ITEMS", 3)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("[1,2,3,4,5,6,7]", ["[1,2,3]", "[4,5,6]", "[7]"]),
        ("[1,2,3]", ["[1,2,3]"]),
        (' [ {"a":[1,2]} , "],[\\"" ,3 , 4 ]\n', ['[{"a":[1,2]} , "],[\\"" ,3]', "[4]"]),
        (b"[1,2,3,4]", ["[1,2,3]", "[4]"]),
    ],
)
def test_an_array_is_cut_into_slices_of_its_own_text(
    frame: str | bytes, expected: list[str]
) -> None:
    pieces = list(slices(frame))
    assert pieces == expected
    assert [item for piece in pieces for item in orjson.loads(piece)] == orjson.loads(frame)


@pytest.mark.parametrize(
    "frame",
    ["[]", '{"a":[1,2,3,4]}', "[1,2,", "[1,2]x", "[1 2]", "[1,]", "[1,NaN,3,4]", "not json"],
)
def test_anything_but_a_well_formed_array_comes_back_whole(frame: str) -> None:
    assert list(slices(frame)) == [frame]
