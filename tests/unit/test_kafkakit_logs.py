import io
import logging

from kafkakit.logs import configure_logging, log_event
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
