"""The demo's go-live: its existing customers come in through the import, with their
true sign-up and order dates, and no welcome greets them."""

from memberflow.store import Enrolment, Member
from memberflow_local.simulation import Simulation, SimulationConfig
from memberflow_local.stack import LocalStack


def test_the_demo_backfill_imports_existing_customers_with_their_true_dates():
    config = SimulationConfig(members=40, days=1, seed=3, existing_share=0.6, erasures=0)
    with LocalStack() as stack:
        simulation = Simulation(stack, config)
        simulation._population()
        simulation.backfill()  # go-live (the run's days: test_demo_simulation.py)
        stack.clock.wait_idle()
        existing = [m for m in simulation.members if m.joins_on < 0]
        assert len(existing) > 15
        assert simulation.import_result["imported"] == len(existing)
        assert not simulation.errors, simulation.errors[:3]
        welcomed = {e.member_id for e in Enrolment.scan() if e.journey == "welcome"}
        stages = set()
        for m in existing:
            member = Member.get(m.member_id)
            assert member.joined_at == simulation._at(m.joins_on)  # the true sign-up
            assert member.joined_at < simulation.start
            stages.add(member.stage)
            assert int(member.order_count) == len(m.orders)  # every past order counted
        # Two years of history: the rules find customers in several stages on day one.
        assert len(stages) >= 3, stages
        assert not welcomed and not stack.outbox()
