import pytest

from agentgym_envs.formats import ActionFormatError, MalformedAction, format_react, parse_react, to_command


def test_parse_react_round_trips_format_react():
    assert parse_react(format_react("The goal is below.", "move down")) == ("The goal is below.", "move down")


@pytest.mark.parametrize(
    "reply, action",
    [
        ("Thought: go\nAction: move up", "move up"),
        ("Action:\n  move left  \nmore text", "move left"),
        ("thought:\nx\n\naction: craft 1 stick using 2 planks", "craft 1 stick using 2 planks"),
        ("**Thought:** hm\n**Action:** look", "look"),
        ("Action: first\nThought: wait\nAction: second", "second"),
        ("Thought: q\n\nAction: ```sql\nSELECT a\nFROM t;\n```\nthanks", "```sql\nSELECT a\nFROM t;\n```"),
        ("Action:\n```sql\nSELECT 1", "```sql\nSELECT 1"),
    ],
)
def test_parse_react_finds_the_last_action(reply, action):
    assert parse_react(reply)[1] == action


@pytest.mark.parametrize("reply", ["", "Thought: nothing to do", "Action:", "Action:   \n  ", "Reaction: x"])
def test_parse_react_rejects_replies_without_an_action(reply):
    with pytest.raises(ActionFormatError, match="Action"):
        parse_react(reply)


def test_to_command_marks_malformed_replies():
    command = to_command("just chatting")
    assert isinstance(command, MalformedAction) and "Action:" in command.reason
    assert to_command("Action: move up") == "move up" and not isinstance(
        to_command("Action: x"), MalformedAction
    )


def test_a_malformed_action_keeps_its_reason_through_pickling():
    import pickle

    command = to_command("no action here")
    copy = pickle.loads(pickle.dumps(command))
    assert isinstance(copy, MalformedAction) and copy.reason == command.reason and copy == command
