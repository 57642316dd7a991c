"""The member store: table names bound at start-up, lookups by id, identity and email."""

from memberflow.members import service
from memberflow.runtime import app_context
from memberflow.store import Member
from memberflow.store.models import UNBOUND


def test_models_are_bound_from_settings_at_start_up_not_import(stack):
    # The class attribute starts unbound (see models.py) and is set by app_context().
    context = app_context()
    assert Member.Meta.table_name == context.settings.tables["MEMBERS_TABLE"] != UNBOUND
    assert Member.Meta.table_name == stack.physical["MembersTable"]["Ref"]


def test_lookups_by_member_id_identity_and_email(stack):
    context = app_context()
    member, created = service.link_or_create(
        platform="shopify",
        shop="a.myshopify.com",
        customer_id="42",
        email=" Ada@Example.com ",
        programme=context.programme,
        now=stack.clock.now(),
        stage="new",
        reason="signup",
    )
    assert created
    assert service.get_member(member.member_id).email == "ada@example.com"
    assert (
        service.find_by_identity("shopify", "a.myshopify.com", "42").member_id == member.member_id
    )
    assert service.find_by_email("ADA@example.com").member_id == member.member_id
    assert service.find_by_email("nobody@example.com") is None
    # Same person in a second shop of the programme: one member, a second identity.
    again, created_again = service.link_or_create(
        platform="shopify",
        shop="b.myshopify.com",
        customer_id="7",
        email="ada@example.com",
        programme=context.programme,
        now=stack.clock.now(),
        stage="new",
        reason="signup",
    )
    assert not created_again and again.member_id == member.member_id
    assert service.find_by_identity("shopify", "b.myshopify.com", "7").member_id == member.member_id
