"""The fast lane: botocore's DynamoDB data-plane calls answered by moto's handler in
process, without HTTP (``enable_fast_lane``), and its answers handed back to botocore
as moto's result dicts (:class:`WireAnswers`)."""

from __future__ import annotations

import functools
import json
import os

from memberflow_local.tables import _backend, _backends, _lock, _request_ids

# Results of these operations are plain wire-format dicts (moto's DynamoResult).
FAST_RESPONSES = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
}


def _data_plane_headers(handler) -> dict:
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "server": "amazon.com",
        "x-amzn-requestid": f"memberflow-local-{next(_request_ids):012d}",
    }
    headers.update(handler.response_headers)
    return headers


def fast_serialized(handler, action_result):
    """``DynamoHandler.serialized`` for data-plane results: ``json.dumps`` of the dict."""
    result = action_result.result
    if isinstance(result, Exception) or handler._get_action() not in FAST_RESPONSES:
        return None
    headers = _data_plane_headers(handler)
    try:
        body = json.dumps(result, separators=(", ", ": "))
    except TypeError:  # binary attributes: moto's own serialiser base64-encodes them
        return None
    return 200, headers, body


# ---------------------------------------------------------------------- fast lane
# moto answers an SDK call by turning it into an HTTP request, routing it by URL and
# header, re-parsing it, finding the handler method by introspection and serialising
# an HTTP response: about 1.5 ms of a 1.7 ms GetItem. The lane hands data-plane calls
# from botocore's ``before-call`` event straight to moto's DynamoDB handler method,
# with moto's own request parser and botocore's own response parser, so results and
# errors are the ones the HTTP path gives (tests/integration/test_local_stack.py).
# Seams (moto 5.2.5): ``moto.core.parse.PROTOCOL_PARSERS``, ``DynamoHandler`` methods
# reading ``self.body``/``self.params``, ``ActionResult``, ``ServiceException``.
_lane = {"enabled": False}


@functools.cache
def _handler_class():
    """moto's DynamoHandler with its backend set once per call, not looked up on every
    access (``dynamodb_backends[account][region]`` takes a global lock each time)."""
    from moto.dynamodb.responses import DynamoHandler

    class LaneHandler(DynamoHandler):
        dynamodb_backend = None

    return LaneHandler


def _request_params(operation_model, body: bytes) -> dict:
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.dynamodb.responses import DynamoHandler

    parser = PROTOCOL_PARSERS["json"](
        operation_model, map_type=DynamoHandler.PROTOCOL_PARSER_MAP_TYPE
    )
    return parser.parse(
        {
            "method": "POST",
            "values": {},
            "headers": {},
            "body": body,
            "url_path": "/",
            "url_params": {},
        }
    )


def _respond(handler, operation_name: str, *, direct: bool = False) -> tuple[int, dict, object]:
    """moto's answer: (status, headers, body). ``direct``: a data-plane result's body is
    moto's result dict itself, not its JSON (:class:`WireParser` reads it)."""
    from moto.core.exceptions import HTTPException, ServiceException
    from moto.core.responses import ActionResult
    from moto.core.utils import camelcase_to_underscores

    method = getattr(handler, camelcase_to_underscores(operation_name))
    try:
        result = method()
    except ServiceException as error:
        return handler.serialized(ActionResult(error))
    except HTTPException as error:
        return error.code, dict(error.get_headers() or []), error.description
    if isinstance(result, ActionResult):
        if direct and isinstance(result.result, dict):
            return 200, _data_plane_headers(handler), result.result
        return handler.serialized(result)
    if isinstance(result, str):
        return 200, {}, result
    status, headers, body = handler._transform_response({}, result)
    return status, headers, body


def fast_lane(model, params, context, **_kwargs):
    """botocore ``before-call.dynamodb`` handler: ``(http response, parsed)`` or None."""
    if not _lane["enabled"] or model.name not in FAST_RESPONSES:
        return None
    from botocore.awsrequest import AWSResponse
    from botocore.parsers import create_parser
    from moto.core import DEFAULT_ACCOUNT_ID

    handler = _handler_class()()
    handler.region = context.get("client_region") or "us-east-1"
    handler.current_account = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    handler.dynamodb_backend = _backend(handler.current_account, handler.region)
    handler.headers = {"X-Amz-Target": f"DynamoDB_20120810.{model.name}"}
    handler.querystring = {}
    handler.response_headers = {}
    handler.uri_match = {}
    handler.params = _request_params(model, params["body"])
    handler.body = handler.params
    # DynamoDB applies each request atomically, reads included: a read never sees an
    # update_item half-applied (moto mutates items in place), so the whole call holds
    # the lock that already serialises writes.
    direct = wire_answers.enabled
    with _lock:
        status, headers, body = _respond(handler, model.name, direct=direct)
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {"content-type": "application/x-amz-json-1.0", **headers}
    # DynamoDB names a request id on every answer, errors included (moto's error
    # serialiser leaves it out; the Step Functions DynamoDB integration reads it).
    if not any(name.lower() == "x-amzn-requestid" for name in headers):
        headers["x-amzn-requestid"] = f"memberflow-local-{next(_request_ids):012d}"
    if isinstance(body, dict):
        http = _lazy_body_class()(params.get("url", ""), status, headers, None)
        http._answer = body
        response = {"status_code": status, "headers": http.headers, "body": body}
        return http, wire_answers.parser().parse(response, model.output_shape)
    http = AWSResponse(params.get("url", ""), status, headers, None)
    http._content = body
    response = {"status_code": status, "headers": http.headers, "body": body}
    parser = create_parser("json")
    parsed = parser.parse(response, model.output_shape)
    if status >= 300:
        # botocore's endpoint parses modeled error fields (CancellationReasons, ...)
        # in a second pass; so does the lane.
        code = parsed.get("Error", {}).get("Code")
        error_shape = model.service_model.shape_for_error_code(code) if code else None
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
    return http, parsed


class WireAnswers:
    """A data-plane answer handed to botocore as moto's result dict, not as JSON.

    The lane serialised moto's result to JSON and botocore parsed it back, walking the
    output shape down to every attribute value of every item (a Scan page of members is
    thousands of nodes). Here botocore's own JSON parser reads the dict (no JSON text in
    between) and each ``AttributeValue`` is converted by a walk that does what botocore's
    does to one: binaries decoded, every other member kept, containers rebuilt. Errors
    still go through JSON and botocore's parser. The HTTP response's bytes are made only
    if something reads them."""

    def __init__(self):
        self.enabled = True
        self._parser = None

    def parser(self):
        if self._parser is None:
            self._parser = _wire_parser_class()()
        return self._parser


wire_answers = WireAnswers()


def _wire_parser_class():
    import base64

    from botocore.parsers import JSONParser

    def blob(value):
        return value if isinstance(value, bytes | bytearray) else base64.b64decode(value)

    def attribute_value(node: dict) -> dict:
        parsed = {}
        for kind, value in node.items():
            if value is None:
                continue
            if kind == "M":
                parsed[kind] = {name: attribute_value(v) for name, v in value.items()}
            elif kind == "L":
                parsed[kind] = [attribute_value(v) for v in value]
            elif kind == "B":
                parsed[kind] = blob(value)
            elif kind == "BS":
                parsed[kind] = [blob(v) for v in value]
            elif kind in ("SS", "NS"):
                parsed[kind] = list(value)
            elif kind in _SCALAR_KINDS:
                parsed[kind] = value
            else:  # not an AttributeValue member: botocore's own handling
                return None
        return parsed

    class WireParser(JSONParser):
        def _parse_body_as_json(self, body_contents):
            if isinstance(body_contents, dict):
                return body_contents
            return super()._parse_body_as_json(body_contents)

        def _handle_double(self, shape, value):
            # moto's serialiser writes a double as one (5.0), and JSON reads it back so
            return float(value) if type(value) is int else value

        _handle_float = _handle_double

        def _parse_shape(self, shape, node):
            if shape.name == "AttributeValue" and type(node) is dict:
                parsed = attribute_value(node)
                if parsed is not None:
                    return parsed
            return super()._parse_shape(shape, node)

        def _handle_map(self, shape, value):
            # An item (name -> AttributeValue): botocore parses each name through its
            # string handler, which keeps it as it is; so does this, without the calls.
            if shape.value.name != "AttributeValue" or shape.key.type_name != "string":
                return super()._handle_map(shape, value)
            parsed = {}
            for name, node in value.items():
                found = attribute_value(node) if type(node) is dict else None
                parsed[name] = found if found is not None else self._parse_shape(shape.value, node)
            return parsed

    return WireParser


_SCALAR_KINDS = frozenset(("S", "N", "NULL", "BOOL"))


@functools.cache
def _lazy_body_class():
    from botocore.awsrequest import AWSResponse

    class LazyBody(AWSResponse):
        """An AWSResponse whose JSON body is written when first read."""

        @property
        def content(self):
            if self._content is None:
                self._content = json.dumps(self._answer, default=_json_default).encode()
            return self._content

    return LazyBody


def _json_default(value):
    import base64

    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def enable_fast_lane() -> None:
    """Route DynamoDB data-plane calls of every client created from now on."""
    from botocore.handlers import BUILTIN_HANDLERS

    if ("before-call.dynamodb", fast_lane) not in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.append(("before-call.dynamodb", fast_lane))
    _lane["enabled"] = True


def disable_fast_lane() -> None:
    _lane["enabled"] = False
    # The next mock starts with fresh backends.
    _backends.clear()
