"""apprise notifications: batched summaries of what Cacherr did, and a test message.

`Notifier` subscribes to the event bus and sends; `digest` turns events into messages;
`sender` is the only place apprise is called.
"""

from cacherr.notify.digest import Message, compose
from cacherr.notify.notifier import TEST_MESSAGE, Notifier
from cacherr.notify.sender import AppriseSender, Delivery, service_name

__all__ = [
    "TEST_MESSAGE",
    "AppriseSender",
    "Delivery",
    "Message",
    "Notifier",
    "compose",
    "service_name",
]
