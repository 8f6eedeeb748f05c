"""Recall numbers are bounded so that recall times stay computable."""

from __future__ import annotations

import pytest

from clarion.domain.voice.errors import RecallPolicyError
from clarion.domain.voice.recall import BOUNDS, RecallPolicy


@pytest.mark.parametrize("field", sorted(BOUNDS))
def test_bounds(field: str) -> None:
    RecallPolicy.from_autocall({field: BOUNDS[field]})
    with pytest.raises(RecallPolicyError) as caught:
        RecallPolicy.from_autocall({field: BOUNDS[field] + 1})
    assert caught.value.field == field
    with pytest.raises(RecallPolicyError):
        RecallPolicy.from_autocall({field: 10**30})
