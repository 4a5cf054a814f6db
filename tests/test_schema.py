import pandas as pd

from deliverability_econ.schema import (
    EVENT_COLUMNS,
    coerce_events,
    empty_events,
    validate_events,
)


def good_events():
    return coerce_events(pd.DataFrame({
        "timestamp": pd.to_datetime([1761994800, 1761994900], unit="s", utc=True),
        "event": ["processed", "bounced"],
        "message_id": ["m1", "m1"],
        "event_id": ["e1", "e2"],
        "recipient": ["abc", "abc"],
        "recipient_domain": ["gmail.com", "gmail.com"],
        "mailbox_provider": ["gmail", "gmail"],
        "bounce_class": [None, "hard"],
        "is_machine": [False, False],
        "smtp_status": [None, "5.1.1"],
        "esp": ["sendgrid", "sendgrid"],
    }))


def test_empty_events_has_the_contract_columns():
    events = empty_events()
    assert tuple(events.columns) == EVENT_COLUMNS
    assert validate_events(events).empty
    assert str(events["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_valid_table_has_no_problems():
    assert validate_events(good_events()).empty


def test_offending_rows_are_returned_with_their_problem():
    events = good_events()
    events.loc[0, "bounce_class"] = "hard"  # on a processed event
    events.loc[1, "smtp_status"] = "550"  # not an enhanced code
    problems = validate_events(events)
    assert set(problems["problem"]) == {
        "bounce_class set on an event that is not 'bounced'",
        "smtp_status is not an enhanced status code like 5.1.1",
    }
    assert sorted(problems.index) == [0, 1]


def test_missing_required_values_and_duplicates():
    events = good_events()
    events.loc[1, "event_id"] = "e1"
    events.loc[0, "message_id"] = pd.NA
    problems = validate_events(events)
    assert "duplicate event_id" in set(problems["problem"])
    assert "message_id is missing" in set(problems["problem"])


def test_structural_problems():
    events = good_events().drop(columns=["esp"])
    events["extra"] = 1
    events["event"] = events["event"].astype(str)
    problems = validate_events(events)
    text = " | ".join(problems["problem"])
    assert "missing column 'esp'" in text
    assert "unexpected column 'extra'" in text
    assert "column 'event' has dtype" in text
    assert (problems.index == -1).sum() == 3


def test_clear_recipient_must_match_domain():
    events = good_events()
    events["recipient"] = ["a@gmail.com", "a@yahoo.com"]
    problems = validate_events(events)
    assert list(problems.index) == [1]
