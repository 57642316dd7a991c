"""Member API: lookups for operators and CRMs (IAM-authorised in AWS)."""

import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from memberflow.members.service import find_by_email, get_member, member_view
from memberflow.runtime import app_context

logger = Logger()
app = APIGatewayRestResolver()


def _error(status: int, field: str, reason: str) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": {"status": status, "field": field, "reason": reason}}),
    )


@app.get("/members/<member_id>")
def get_one(member_id: str):
    member = get_member(member_id)
    if member is None:
        return _error(404, "member_id", "no such member")
    return member_view(member)


@app.get("/members")
def find():
    email = app.current_event.get_query_string_value("email")
    if not email:
        return _error(400, "query:email", "required")
    member = find_by_email(email)
    return {"members": [member_view(member)] if member else []}


@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    return app.resolve(event, lambda_context)
