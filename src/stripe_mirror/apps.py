from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class StripeMirrorConfig(AppConfig):
    name = "stripe_mirror"
    verbose_name = "Stripe mirror"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, conf, ops

        del checks  # imported for its @register side effect
        ops.ready()  # operations checks; metrics receivers when prometheus-client is installed
        # User handlers live in <app>/stripe_handlers.py (HANDLER_MODULES) of installed apps.
        autodiscover_modules(*conf.handler_modules())
