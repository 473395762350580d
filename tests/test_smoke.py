import pytest

from stripe_mirror.models import InboxEvent, Status
from tests.testapp.models import HandlerCall


@pytest.mark.django_db(transaction=True)
def test_event_recorded_and_processed(post, event):
    response = post(event)
    assert response.status_code == 200, response.content
    row = InboxEvent.objects.get(stripe_id=event["id"])
    assert row.status == Status.PROCESSED
    assert HandlerCall.objects.filter(event_id=event["id"]).count() == 1
    response = post(event)
    assert response.json()["duplicate"] is True
    row.refresh_from_db()
    assert row.delivery_count == 2
    assert HandlerCall.objects.filter(event_id=event["id"]).count() == 1
