from django.db import models


class HandlerCall(models.Model):
    """One successful run of a test handler: lets tests count processing exactly."""

    event_id = models.CharField(max_length=255)
    handler = models.CharField(max_length=100)
    at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.handler}({self.event_id})"
