import io
import logging
import shlex

from kafkakit.logs import configure_logging, log_event, printable
from kafkakit.secrets import register_secret


def _capture(**fields):
    stream = io.StringIO()
    configure_logging(stream=stream)
    log_event(logging.getLogger("test"), "sent", **fields)
    return stream.getvalue().strip()


def test_one_key_value_line_per_event():
    line = _capture(partition=3, offset=42, note="two words")
    assert "\n" not in line
    assert "level=info logger=test event=sent partition=3 offset=42" in line
    assert 'note="two words"' in line


def test_registered_secrets_and_sas_keys_are_redacted():
    register_secret("hunter2-password")
    line = _capture(error="auth failed for hunter2-password", cs="Endpoint=sb://x/;SharedAccessKey=abc=;")
    assert "hunter2" not in line
    assert "abc=" not in line
    assert "***" in line


def test_control_characters_cannot_start_a_line_or_reach_the_terminal():
    line = _capture(payload="ok\r\nts=forged level=error\x1b[31m\u2028end", tab="a\tb")
    assert line.count("\n") == 0
    for raw in ("\r", "\x1b", "\u2028"):
        assert raw not in line
    assert 'payload="ok\\r\\nts=forged level=error\\x1b[31m\\u2028end"' in line
    assert 'tab="a\\tb"' in line


def test_quoted_values_read_back_with_shlex():
    fields = {"path": "C:\\temp", "quote": 'say "hi"', "plain": "x"}
    line = _capture(**fields)
    parsed = dict(item.partition("=")[::2] for item in shlex.split(line))
    assert {key: parsed[key] for key in fields} == fields


def test_a_secret_with_quotes_is_still_redacted():
    register_secret('pa"ss\\word')
    line = _capture(error='login with pa"ss\\word refused')
    assert "pa" + '\\"' not in line
    assert 'error="login with *** refused"' in line


def test_printable_escapes_only_what_is_not_printable():
    assert printable("plain text ü €") == "plain text ü €"
    assert printable("a\nb\x00c\x7f") == "a\\nb\\x00c\\x7f"
