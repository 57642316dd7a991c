"""The provider lane (``memberflow_local.provider_lane``): SES ``SendEmail`` and SNS
``Publish`` as a journey step sends them, through boto3 on the local stack, with the
lane and on moto's own HTTP path (``motos_own_provider_calls``), measured in the same
run, the modes alternating; CPU time (``time.process_time``) is the figure to compare
on a shared machine.

    python -m bench provider_lane
    python -m bench.provider_lane --calls 2000
"""

from __future__ import annotations

import argparse
import logging
import os
import time


def _cpu_per_call(call, calls: int) -> float:
    call()  # warm: first-call imports and caches in both modes
    started = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - started) / calls


def _compare(name: str, call, calls: int, rounds: int = 3) -> float:
    from memberflow_local.provider_lane import motos_own_provider_calls

    lane, moto = [], []
    for _ in range(rounds):
        lane.append(_cpu_per_call(call, calls))
        with motos_own_provider_calls():
            moto.append(_cpu_per_call(call, calls))
    ours, theirs = min(lane), min(moto)
    print(
        f"  {name:<34} CPU {ours * 1e3:6.3f} ms vs {theirs * 1e3:6.3f} ms on moto's"
        f" path ({theirs / ours:4.2f}x; {calls} calls x best of {rounds})"
    )
    return theirs / ours


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.provider_lane")
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    from memberflow.journeys.channels import ChannelAdapters, Outgoing
    from memberflow_local.stack import LocalStack

    print("per call, the provider lane vs moto's own HTTP path (same process):")
    print(f"  (machine load: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    with LocalStack() as stack:
        sender = stack.client("ses").list_identities()["Identities"][0]
        adapters = ChannelAdapters(email_sender=sender, region=stack.client("ses").meta.region_name)
        message = Outgoing(
            member_id="mbr_1",
            journey="welcome",
            cohort_id="welcome-2026-01-05",
            step="day0",
            template="welcome",
            locale="en",
            message_key="k",
            subject="Welcome to the programme",
            body="You have 100 points. " * 20,
        )

        def email():
            adapters.send("email", message, email="ada@example.com", phone=None)

        def sms():
            adapters.send("sms", message, email=None, phone="+447700900123")

        _compare("SES SendEmail (channels.send)", email, args.calls)
        _compare("SNS Publish to a phone", sms, args.calls)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
