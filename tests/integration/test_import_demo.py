"""The demo's go-live: its existing customers come in through the import, with their
true sign-up and order dates, and no welcome greets them."""

from memberflow.store import Enrolment, Member
from memberflow_local.simulation import Simulation, SimulationConfig
from memberflow_local.stack import LocalStack


def test_the_demo_backfill_imports_existing_customers_with_their_true_dates():
    config = SimulationConfig(members=60, days=3, seed=3, existing_share=0.6, erasures=0)
    with LocalStack() as stack:
        simulation = Simulation(stack, config)
        simulation.run()
        stack.clock.wait_idle()
        existing = [m for m in simulation.members if m.joins_on < 0]
        assert len(existing) > 20
        assert simulation.import_result["imported"] == len(existing)
        assert not simulation.errors, simulation.errors[:3]
        welcomed = {e.member_id for e in Enrolment.scan() if e.journey == "welcome"}
        stages = set()
        for m in existing:
            member = Member.get(m.member_id)
            assert member.joined_at == simulation._at(m.joins_on)  # the true sign-up
            assert member.joined_at < simulation.start
            assert m.member_id not in welcomed
            stages.add(member.stage)
            bought_before = [at for at, _, _ in m.orders if at < simulation.start]
            assert int(member.order_count) >= len(bought_before)
        # Two years of history: the rules find customers in several stages on day one.
        assert len(stages) >= 3, stages
        newcomers = [m for m in simulation.members if m.joins_on >= 0 and m.member_id]
        assert newcomers and all(m.member_id in welcomed for m in newcomers)
