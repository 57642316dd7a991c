"""Data access of the journey engine: enrolments, cohorts and messages.

Batched, consistent reads of a shard's enrolments and members, the entry's conditional
writes, and the closes. The journey modules decide; these read and write.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist, UpdateError

from memberflow.store import Cohort, Enrolment, Member, Message
from memberflow.store.enrolments import close_actions

BATCH_GET = 100  # BatchGetItem's limit
TRANSACTION_PUTS = 99  # TransactWriteItems holds 100 items: 99 puts + the cohort check


def enrolment_key(journey: str, cohort_id: str) -> str:
    return f"{journey}#{cohort_id}"


def _recently_enrolled(
    member_id: str, journey: str, reentry_days: int | None, now: datetime
) -> bool:
    """Re-entry rule: ``None`` = never again; N = not again within N days of the last entry."""
    for previous in Enrolment.query(member_id, Enrolment.enrolment_key.startswith(f"{journey}#")):
        if reentry_days is None or previous.entered_at > now - timedelta(days=reentry_days):
            return True
    return False


def _enrolled_already(member_ids: list[str], key: str) -> set[str]:
    keys = [(member_id, key) for member_id in member_ids]
    found = set()
    for start in range(0, len(keys), BATCH_GET):
        for item in Enrolment.batch_get(
            keys[start : start + BATCH_GET], consistent_read=True, attributes_to_get=["member_id"]
        ):
            found.add(item.member_id)
    return found


def _members(member_ids: list[str]) -> dict[str, Member]:
    # Only what the entry rules read: member items carry long bookkeeping lists.
    wanted = ["member_id", "erased", "stage", "suppressed"]
    found = {}
    for start in range(0, len(member_ids), BATCH_GET):
        for member in Member.batch_get(
            member_ids[start : start + BATCH_GET], consistent_read=True, attributes_to_get=wanted
        ):
            found[member.member_id] = member
    return found


def _write_enrolments(cohort: Cohort, enrolments: list[Enrolment]) -> tuple[list[str], list[str]]:
    """Put new enrolments in transactions of 100 items, each with a check that the
    cohort's execution has not started (members added later would miss its first steps).
    Returns (enrolled, refused as cohort_started)."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    enrolled: list[str] = []
    pending = list(enrolments)
    while pending:
        chunk, pending = pending[:TRANSACTION_PUTS], pending[TRANSACTION_PUTS:]
        while chunk:
            try:
                # The model's own connection (a new one per call would build a new client).
                with TransactWrite(connection=Cohort._get_connection().connection) as write:
                    write.condition_check(
                        Cohort, cohort.cohort_id, condition=Cohort.execution_arn.does_not_exist()
                    )
                    for enrolment in chunk:
                        write.save(enrolment, condition=Enrolment.enrolment_key.does_not_exist())
                enrolled.extend(e.member_id for e in chunk)
                break
            except TransactWriteError as error:
                reasons = [r.code if r else None for r in (error.cancellation_reasons or [])]
                if not reasons or any(
                    code not in (None, "None", "ConditionalCheckFailed") for code in reasons
                ):
                    raise
                if reasons[0] == "ConditionalCheckFailed":  # the execution started meanwhile
                    started = [e.member_id for e in chunk + pending]
                    return enrolled, started
                # Enrolled by a concurrent run of the same cohort: already in, keep the rest.
                taken = {
                    i for i, code in enumerate(reasons[1:]) if code == "ConditionalCheckFailed"
                }
                enrolled.extend(chunk[i].member_id for i in taken)
                chunk = [e for i, e in enumerate(chunk) if i not in taken]
    return enrolled, []


def read_enrolments_and_members(
    keys: list[tuple[str, str]], *, cohort_id: str | None = None
) -> tuple[list[Enrolment], dict[str, Member]] | tuple[list[Enrolment], dict, Cohort | None]:
    """Enrolments by (member id, enrolment key) and their members, consistently: both
    tables in one BatchGetItem per 50 members (unprocessed keys asked again). With
    ``cohort_id``, the cohort item comes in the first batch too (and is returned third)."""
    client = Enrolment._get_connection().connection.client
    enrolments_table, members_table = Enrolment.Meta.table_name, Member.Meta.table_name
    cohorts_table = Cohort.Meta.table_name
    enrolments: list[Enrolment] = []
    members: dict[str, Member] = {}
    cohort = None
    for start in range(0, max(1, len(keys)), BATCH_GET // 2 - 1):
        chunk = keys[start : start + BATCH_GET // 2 - 1]
        request = {
            enrolments_table: {
                "Keys": [{"member_id": {"S": m}, "enrolment_key": {"S": k}} for m, k in chunk],
                "ConsistentRead": True,
            },
            members_table: {
                "Keys": [{"member_id": {"S": m}} for m in dict.fromkeys(m for m, _ in chunk)],
                "ConsistentRead": True,
            },
        }
        if not chunk:
            request = {}
        if cohort_id is not None and start == 0:
            request[cohorts_table] = {
                "Keys": [{"cohort_id": {"S": cohort_id}}],
                "ConsistentRead": True,
            }
        for attempt in range(8):
            if not request:
                break
            answer = client.batch_get_item(RequestItems=request)
            responses = answer.get("Responses", {})
            for item in responses.get(cohorts_table, []):
                cohort = Cohort.from_raw_data(item)
            enrolments += [Enrolment.from_raw_data(i) for i in responses.get(enrolments_table, [])]
            for item in responses.get(members_table, []):
                member = Member.from_raw_data(item)
                members[member.member_id] = member
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(1.0, 0.05 * 2**attempt))  # DynamoDB asks for a backoff
        else:
            raise RuntimeError("BatchGetItem left keys unprocessed")
    if cohort_id is not None:
        return enrolments, members, cohort
    return enrolments, members


class UnknownCohort(LookupError):
    pass


def load_cohort(cohort_id: str) -> tuple[Cohort, dict]:
    try:
        cohort = Cohort.get(cohort_id, consistent_read=True)
    except DoesNotExist:
        raise UnknownCohort(f"cohort {cohort_id} does not exist") from None
    return cohort, json.loads(cohort.config)


def read_members(member_ids: list[str]) -> dict[str, Member]:
    """Members by id, consistently, 100 per BatchGetItem (absent ids: not in the answer)."""
    found: dict[str, Member] = {}
    ids = list(dict.fromkeys(member_ids))
    for start in range(0, len(ids), BATCH_GET):
        for member in Member.batch_get(ids[start : start + BATCH_GET], consistent_read=True):
            found[member.member_id] = member
    return found


def messages_in_window(member_id: str, pinned: dict, now: datetime) -> int:
    """Marketing messages to the member in the cap's window, across every journey."""
    cap = pinned["messaging"]["frequency_cap"]
    since = now - timedelta(days=cap["per_days"])
    recent = Message.query(
        member_id,
        filter_condition=(Message.sent_at > since) & (Message.purpose == "marketing"),
        consistent_read=True,
    )
    return sum(1 for _ in recent)


def _reach(enrolment: Enrolment, mark: str, sent: bool) -> None:
    """Record that the member passed a step (``step``, ``step:capped``, ...)."""
    if mark in (enrolment.steps_reached or []):
        return
    actions = [Enrolment.steps_reached.set((Enrolment.steps_reached | []).append([mark]))]
    if sent:
        actions.append(Enrolment.messages_sent.add(1))
    try:
        enrolment.update(actions=actions, condition=Enrolment.status == "open")
    except UpdateError:
        pass


def _close_all_at_once(
    cohort: Cohort, closes: list, totals: dict, now: datetime, provider_ids: list
) -> bool:
    """Every close and the cohort's totals in one transaction; ``False`` (nothing written)
    when one enrolment was closed meanwhile (an order): then they go one by one."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    try:
        with TransactWrite(connection=Cohort._get_connection().connection) as write:
            for enrolment, status, reason, extra in closes:
                write.update(
                    enrolment,
                    actions=close_actions(status, reason, now, extra),
                    condition=Enrolment.status == "open",
                )
            write.update(cohort, actions=_finished(totals, now))
            for record, provider_id in provider_ids:
                write.update(
                    record,
                    actions=[Message.provider_message_id.set(provider_id)],
                    condition=Message.message_key.exists(),
                )
    except TransactWriteError as error:
        reasons = [r.code if r else None for r in (error.cancellation_reasons or [])]
        if "ConditionalCheckFailed" in reasons:
            return False
        raise
    return True


def _finished(totals: dict, now: datetime) -> list:
    return [
        Cohort.status.set("finished"),
        Cohort.finished_at.set(now),
        Cohort.totals.set(json.dumps(totals, sort_keys=True)),
    ]


def record_execution(cohort_id: str, arn: str | None, receipt=None, summary=None) -> None:
    """The cohort's first execution (its ARN) and, with it, the delivery's receipt
    (``store.receipts.Receipt``): one transaction, so a retried delivery finds both."""
    from pynamodb.transactions import TransactWrite

    with TransactWrite(connection=Cohort._get_connection().connection) as write:
        if arn is not None:
            write.update(Cohort(cohort_id=cohort_id), actions=[Cohort.execution_arn.set(arn)])
        if receipt is not None:
            receipt.add_to(write, summary)
