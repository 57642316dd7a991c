"""Publishing a programme version at runtime (docs/publishing.md), on a local stack that
keeps its programme in SSM as a deployment does: ``PUT /programme`` and ``memberflow
programme publish`` validate and publish a new SSM version; the functions take it within
PROGRAMME_MAX_AGE (virtual clock); a cohort in flight finishes on the version it pinned
while the next cohort runs on the new one."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from memberflow import runtime
from memberflow.config.programme import default_document
from memberflow.runtime import app_context
from memberflow.store import Cohort, Enrolment
from memberflow_local.programme import template_with_parameter
from memberflow_local.stack import LocalStack
from tests.integration.test_journeys_support import arm_ids, make_member, messages

PARAMETER = "/acme/programme"
V1 = default_document()["version"]


@pytest.fixture(scope="module")
def stack():
    with LocalStack(template=template_with_parameter(PARAMETER)) as local:
        yield local


def _history(stack) -> list[dict]:
    return stack.client("ssm").get_parameter_history(Name=PARAMETER)["Parameters"]


def _edited(version: str, edit=None) -> dict:
    doc = default_document()
    doc["version"] = version
    if edit is not None:
        edit(doc)
    return doc


def _shorter_last_call(doc: dict) -> None:
    """The win-back's second step a week earlier, with a new template."""
    doc["templates"]["winback_last_call"] = {
        locale: {"subject": "Last call", "body": "Last call, {first_name}."}
        for locale in doc["programme"]["locales"]
    }
    final = doc["journeys"]["winback"]["steps"][1]
    final["template"], final["wait_days"] = "winback_last_call", 7


def _publish(stack, doc) -> tuple[int, dict]:
    headers = None if isinstance(doc, dict) else {"Content-Type": "application/json"}
    response = stack.http("PUT", "/programme", body=doc, headers=headers)
    return response.status, response.json()


def test_the_stack_starts_with_its_programme_published_and_the_functions_read_it(stack):
    (first,) = _history(stack)[:1]
    assert json.loads(first["Value"]) == default_document()
    # The default programme is over the Standard tier's 4 KB.
    assert first["Tier"] == "Advanced" and first["Version"] == 1
    answer = stack.http("GET", "/programme")
    assert answer.status == 200, answer.body
    assert answer.json()["version"] == app_context().programme.version


def test_a_bad_document_is_refused_naming_the_field_and_nothing_is_published(stack):
    before = _history(stack)
    doc = _edited("2026-12-01.bad")
    doc["journeys"]["winback"]["steps"][1]["template"] = "no_such_template"
    status, answer = _publish(stack, doc)
    assert status == 400
    assert answer["error"]["field"] == "body.journeys.winback.steps[1].template"
    assert "not defined in templates" in answer["error"]["reason"]
    doc = _edited("2026-12-01.bad", lambda d: d["tiers"].update(ladder="gold"))
    status, answer = _publish(stack, doc)
    assert status == 400 and answer["error"]["field"] == "body.tiers.ladder", answer
    status, answer = _publish(stack, "not a programme")
    assert status == 400 and answer["error"]["field"] == "body"
    assert _history(stack) == before


def test_a_version_name_is_published_with_one_content_and_a_retry_writes_nothing(stack):
    doc = _edited("2026-12-02.1", lambda d: d["points"].update(earn_per_currency_unit=2))
    status, first = _publish(stack, doc)
    assert status == 201 and first["changed"] is True, first
    assert first["ssm_version"] == _history(stack)[-1]["Version"]
    # The same document again (a retried request): no new SSM version.
    status, again = _publish(stack, doc)
    assert status == 200 and again == {**first, "changed": False}
    # Other content under a published version's name would make two pins mean one name.
    other = _edited("2026-12-02.1", lambda d: d["points"].update(earn_per_currency_unit=3))
    status, answer = _publish(stack, other)
    assert status == 409 and answer["error"]["field"] == "body.version", answer
    assert _history(stack)[-1]["Version"] == first["ssm_version"]
    # An earlier version's exact content (a rollback) is a new SSM version of it.
    status, rollback = _publish(stack, default_document())
    assert status == 201 and rollback["version"] == V1
    assert rollback["ssm_version"] == first["ssm_version"] + 1


def _with_filler(version: str, text) -> dict:
    """A valid document with 40 extra templates of ``text(n)`` per locale."""
    doc = _edited(version)
    for n in range(40):
        doc["templates"][f"filler_{n}"] = {
            locale: {"subject": "s", "body": text(n)} for locale in doc["programme"]["locales"]
        }
    return doc


def test_a_document_over_8_kb_is_stored_compressed_and_the_functions_read_it(stack):
    doc = _with_filler("2026-12-03.big", lambda n: f"Dear member {n}, " * 8)
    assert len(json.dumps(doc, separators=(",", ":")).encode()) > 8192
    status, published = _publish(stack, doc)
    assert status == 201, published
    stored = _history(stack)[-1]
    assert stored["Value"].startswith("gzip:") and len(stored["Value"]) <= 8192
    assert stored["Tier"] == "Advanced"  # it was Advanced: AWS refuses a move back
    stack.clock.advance(runtime.PROGRAMME_MAX_AGE)
    assert app_context().programme.doc == doc
    assert stack.http("GET", "/programme").json()["version"] == "2026-12-03.big"
    status, _ = _publish(stack, default_document())  # back to V1 for the next tests
    assert status == 201
    stack.clock.advance(runtime.PROGRAMME_MAX_AGE)


def test_a_document_ssm_cannot_hold_even_compressed_is_refused_with_413(stack):
    import random

    rng = random.Random(12)
    before = _history(stack)
    doc = _with_filler(
        "2026-12-03.huge", lambda n: "".join(rng.choice("abcdefghijklmnop") for _ in range(200))
    )
    status, answer = _publish(stack, doc)
    assert status == 413 and answer["error"]["field"] == "body", answer
    assert "8192" in answer["error"]["reason"]
    assert _history(stack) == before


def test_the_functions_take_a_published_version_within_programme_max_age(stack):
    runtime.reset()
    assert app_context().programme.version == V1
    status, published = _publish(stack, _edited("2026-12-04.1"))
    assert status == 201, published
    stack.clock.advance(runtime.PROGRAMME_MAX_AGE - timedelta(seconds=1))
    assert app_context().programme.version == V1  # the copy is not yet 5 minutes old
    stack.clock.advance(timedelta(seconds=1))
    assert app_context().programme.version == "2026-12-04.1"
    status, _ = _publish(stack, default_document())  # back to V1 for the next tests
    assert status == 201
    stack.clock.advance(runtime.PROGRAMME_MAX_AGE)
    assert app_context().programme.version == V1


def test_a_cohort_in_flight_finishes_on_its_version_and_the_next_takes_the_new_one(stack):
    assert app_context().programme.version == V1
    path = "/journeys/winback/enrollments"
    first = arm_ids("winback", "treatment", 2, "pub-a-")
    for member_id in first:
        make_member(stack, member_id, stage="lapsed")
    entered = stack.http("POST", path, body={"member_ids": first})
    assert entered.status == 202, entered.body
    old_cohort = entered.json()["cohort_id"]
    stack.clock.wait_idle()
    assert {m.template for i in first for m in messages(i)} == {"winback_offer"}
    start = stack.clock.now()

    # Members are in the win-back (waiting 14 days for its second step) when a version
    # that sends the second step after 7 days, with another template, is published.
    status, published = _publish(stack, _edited("2026-12-05.1", _shorter_last_call))
    assert status == 201, published
    stack.clock.advance(runtime.PROGRAMME_MAX_AGE)
    assert app_context().programme.version == "2026-12-05.1"
    second = arm_ids("winback", "treatment", 2, "pub-b-")
    for member_id in second:
        make_member(stack, member_id, stage="lapsed")
    entered = stack.http("POST", path, body={"member_ids": second})
    assert entered.status == 202, entered.body
    new_cohort = entered.json()["cohort_id"]

    stack.clock.advance(timedelta(days=15))
    for member_id in first:
        sent = [(m.step, m.template) for m in messages(member_id)]
        assert sent == [("offer", "winback_offer"), ("final_offer", "winback_final")]
        final = messages(member_id)[-1]
        assert final.sent_at >= start + timedelta(days=14)  # the pinned 14-day wait
        enrolled = Enrolment.get(member_id, f"winback#{old_cohort}")
        assert enrolled.config_version == V1
    for member_id in second:
        sent = [(m.step, m.template) for m in messages(member_id)]
        assert sent == [("offer", "winback_offer"), ("final_offer", "winback_last_call")]
        assert messages(member_id)[-1].sent_at < start + timedelta(days=14)
        enrolled = Enrolment.get(member_id, f"winback#{new_cohort}")
        assert enrolled.config_version == "2026-12-05.1"
    assert Cohort.get(old_cohort).config_version == V1
    assert Cohort.get(new_cohort).config_version == "2026-12-05.1"


def test_cli_publishes_through_the_api_and_straight_to_ssm(stack, tmp_path, capsys):
    from memberflow_local.cli import main
    from memberflow_local.server import serve

    server = serve(stack, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        bad = tmp_path / "bad.json"
        doc = _edited("2026-12-06.1")
        doc["messaging"]["send_window"]["end"] = doc["messaging"]["send_window"]["start"]
        bad.write_text(json.dumps(doc))
        before = _history(stack)
        assert main(["programme", "publish", str(bad), "--api-url", url]) == 1
        err = capsys.readouterr().err
        assert "nothing was published" in err and "$.messaging.send_window.end" in err
        assert _history(stack) == before

        good = tmp_path / "good.json"
        good.write_text(json.dumps(_edited("2026-12-06.1"), indent=2))
        assert main(["programme", "publish", str(good), "--api-url", url]) == 0
        out = capsys.readouterr().out
        assert "programme 2026-12-06.1" in out and f"version {len(before) + 1}" in out
        assert json.loads(_history(stack)[-1]["Value"])["version"] == "2026-12-06.1"

        direct = tmp_path / "direct.json"
        direct.write_text(json.dumps(_edited("2026-12-06.2")))
        args = ["programme", "publish", str(direct), "--parameter", PARAMETER]
        assert main([*args, "--region", "us-east-1"]) == 0
        assert "programme 2026-12-06.2" in capsys.readouterr().out
        assert json.loads(_history(stack)[-1]["Value"])["version"] == "2026-12-06.2"
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreadable_parameter_keeps_the_last_programme_until_it_reads_again(stack):
    """Last in the module: it deletes the parameter."""
    runtime.reset()
    held = app_context().programme.version
    stack.client("ssm").delete_parameter(Name=PARAMETER)
    stack.clock.advance(runtime.PROGRAMME_MAX_AGE)
    assert app_context().programme.version == held  # logged; the stack keeps working
    status, published = _publish(stack, _edited("2026-12-07.1"))
    assert status == 201 and published["ssm_version"] == 1, published
    # Not retried on every request: the next read is PROGRAMME_MAX_AGE later.
    assert app_context().programme.version == held
    stack.clock.advance(runtime.PROGRAMME_MAX_AGE)
    assert app_context().programme.version == "2026-12-07.1"
