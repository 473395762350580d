"""The webhook view (public: subclass ``WebhookView`` to customise a step). It lives in
``endpoint/views.py``; this module keeps its documented import path."""

from .endpoint.views import WebhookView, webhook

__all__ = ["WebhookView", "webhook"]
