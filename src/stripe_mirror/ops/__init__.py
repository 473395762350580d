"""Operating the inbox in production: status figures, retention, health and metrics.

Read-only over the inbox (``status``, ``health``, ``metrics``) except ``prune``, which strips
or deletes old processed events. ``ready()`` is called from the app config.
"""

from __future__ import annotations


def ready() -> None:
    """Register the retention system check, and connect the metrics receivers when
    prometheus-client is installed (without it, nothing is connected)."""
    from . import checks, metrics

    del checks  # imported for its @register side effect
    metrics.connect()
