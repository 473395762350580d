from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class StripeMirrorConfig(AppConfig):
    name = "stripe_mirror"
    verbose_name = "Stripe mirror"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, conf, ops
        from .dispatch import steps
        from .dispatch.sql import ties
        from .handlers import step as mirror
        from .sync import sources

        del checks  # imported for its @register side effect
        ops.ready()  # operations checks; metrics receivers when prometheus-client is installed
        # The dispatcher runs the mirror first, without knowing it (stage 3 imports nothing
        # of stages 4 and 5).
        steps.plug(mirror.STEP)
        # The sync's sources of other snapshots: the inbox (same-second ties) and the mirror's
        # write of a state read from the API. Plugged in here, so that neither stage imports
        # the other.
        sources.plug(
            same_second=ties.same_second_snapshots,
            apply_fetched=mirror.apply_fetched,
            after_writes=mirror.after_writes,
        )
        # User handlers live in <app>/stripe_handlers.py (HANDLER_MODULES) of installed apps.
        autodiscover_modules(*conf.handler_modules())
