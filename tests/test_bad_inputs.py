"""Every bad input of the catalogue (tests/bad_input_cases.py) raises the expected type with a message
that names the parameter; the known gaps (files owned by others) are strict expected failures."""

import re

import pytest
from bad_input_cases import CASES, KNOWN_GAPS, Case, run_case


def _check(case: Case):
    raised = run_case(case)
    assert raised is not None, f"{case.api} accepted {case.description} without an error"
    assert isinstance(raised, case.expected), f"{case.api}: expected {case.expected.__name__}, got {type(raised).__name__}: {raised}"
    message = str(raised)
    assert re.search(case.match, message, flags=re.S), f"{case.api}: message {message!r} does not match {case.match!r}"
    assert "nan" not in message.lower() or "nan" in case.description.lower(), f"unexpected NaN in {message!r}"


def test_catalogue_is_well_formed():
    ids = [case.id for case in CASES + KNOWN_GAPS]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 30
    for case in CASES + KNOWN_GAPS:
        assert callable(case.call) and case.match and case.description and case.api
        assert issubclass(case.expected, (Exception, Warning))
        re.compile(case.match)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_rejected_clearly(case):
    _check(case)


def test_known_gaps_still_fail():
    """Each known gap (an input still not handled well) still fails its check; a fixed one moves to CASES. One
    test, not one per gap, so that an empty list reports nothing as skipped."""
    for case in KNOWN_GAPS:
        with pytest.raises(AssertionError):
            _check(case)
