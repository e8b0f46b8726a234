"""verify_webhook_handler accepts a handler that verifies as fal says and catches the shortcuts."""

from __future__ import annotations

import pytest

from contracts.webhooks import WebhookHandlerError, verify_webhook_handler
from tests.apps.webhook_handlers import BROKEN, good


def test_a_handler_that_verifies_properly_passes() -> None:
    verify_webhook_handler(good)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_shortcut_is_caught(name: str) -> None:
    handler, forgery = BROKEN[name]
    with pytest.raises(WebhookHandlerError, match=forgery):
        verify_webhook_handler(handler)
