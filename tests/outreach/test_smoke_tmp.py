from tests.outreach.conftest import *
from siyu.outreach import service, tasks
from siyu.kit.time import travel_to

def test_smoke(database, queue, fleet):
    f = fleet(3, 5)
    with travel_to(TUESDAY_10):
        with database.sessions() as session:
            seg = make_segment(session, None, f.account_ids)
            b = service.create_broadcast(session, None, broadcast_in(seg, messages_per_minute=60, jitter_seconds=0))
            print(b.plan)
            service.start(session, None, b.id)
            session.commit()
        from datetime import timedelta
        with travel_to(TUESDAY_10 + timedelta(minutes=10)):
            n = tasks.drain_queue()
            print("handled", n)
            with database.sessions() as session:
                print(service.results(session, None, b.id))
                for s in sends(session, b.id): print(s.id, s.account_id, s.slot, s.due_at, s.status, s.reason)
