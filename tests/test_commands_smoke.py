import pytest
from django.core.management import call_command

from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import build_event


@pytest.mark.django_db(transaction=True)
def test_worker_processes_events_left_pending(post, settings):
    from stripe_mirror import tasks

    backend = "django.tasks" if tasks.find_spec("django.tasks") else "django_tasks"
    settings.TASKS = {"default": {"BACKEND": f"{backend}.backends.dummy.DummyBackend"}}
    events = [
        build_event("customer.updated", {"id": f"cus_{i}", "object": "customer"}) for i in range(3)
    ]
    for event in events:
        assert post(event).status_code == 200
    assert set(InboxEvent.objects.values_list("status", flat=True)) == {Status.PENDING}
    call_command("stripe_mirror_worker", "--once")
    assert set(InboxEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
