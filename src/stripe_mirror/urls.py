"""Mount with ``path("stripe/", include("stripe_mirror.urls"))``.

Webhooks then arrive at ``/stripe/webhook/<endpoint-name>/`` (the trailing slash is
optional: Stripe posts to exactly the URL you register, and a POST cannot be redirected).
"""

from django.urls import re_path

from .views import webhook

app_name = "stripe_mirror"

urlpatterns = [
    re_path(r"^webhook/(?P<endpoint>[^/]+)/?$", webhook, name="webhook"),
]
