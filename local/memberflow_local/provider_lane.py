"""The provider lane: SES ``SendEmail`` and SNS ``Publish`` answered by moto's own
response handler in process, without the HTTP round trip (``enable``).

Every journey message is one of these calls. On moto's generic path each one is
signed (SigV4), turned into a werkzeug request, routed by URL, re-parsed by werkzeug's
form parser, dispatched after an ``inspect.getmembers`` of the handler class, and
answered as HTTP: about two thirds of the call's CPU. The lane hands the call from
botocore's ``before-call`` event to moto's handler method (``EmailResponse.send_email``,
``SNSResponse.publish``) with the parameters moto's own query parser reads from
botocore's own serialised form; moto's serialiser writes the answer and botocore's
own parser reads it, errors included (``MessageRejected``, ``InvalidParameterValue``,
SNS ``InvalidParameter``), so results, messages recorded in moto's backends and
``ClientError``s are the ones the HTTP path gives (parity:
``tests/integration/test_local_provider_lane.py``).

IAM decides first: the lane is registered on the generic ``before-call`` after IAM's
``answer`` (registered first there, iam.py), and a call IAM denied is handed back to
IAM's answer here too, so no ordering of handlers lets a denied call through.

Not taken (moto's own path answers): moto's own request authentication switched on
(``INITIAL_NO_AUTH_ACTION_COUNT``), its request recorder, a service passed through or
not allowed by ``mock_aws``'s config, an endpoint URL moto does not serve, a client
without credentials (botocore refuses to sign: NoCredentialsError), a parameter that is
not text (a client without parameter validation, such as moto's Step Functions SDK
clients: ``urlencode`` and werkzeug read lists, maps and bytes their own way). The lane
does not retry: moto answers neither operation with a retryable error. As with the
DynamoDB lane, hooks a caller registers on botocore's later events (``before-sign``,
``before-send``, ``needs-retry``, ``response-received``) do not run for a lane call.

Seams (moto 5.2.5): ``moto.core.parse.PROTOCOL_PARSERS["query"]``,
``moto.core.utils.get_service_model``, ``BaseResponse.serialized`` /
``_transform_response`` / ``_enrich_response`` and the handler attributes
``setup_class`` sets (checked by ``test_the_provider_lane_seams_are_in_place``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re

from memberflow_local import iam

# (service, operation) -> (moto handler class path, method name)
OPERATIONS = {
    ("ses", "SendEmail"): ("moto.ses.responses", "EmailResponse", "send_email"),
    ("sns", "Publish"): ("moto.sns.responses", "SNSResponse", "publish"),
}
_URL_MODULES = {"ses": "moto.ses.urls", "sns": "moto.sns.urls"}
_FORM = "application/x-www-form-urlencoded; charset=utf-8"
_state = {"enabled": False}


@contextlib.contextmanager
def motos_own_provider_calls():
    """Run the block's SES and SNS calls through moto's own HTTP path."""
    before = _state["enabled"]
    _state["enabled"] = False
    try:
        yield
    finally:
        _state["enabled"] = before


def enable() -> None:
    """Answer SendEmail and Publish of every client created from now on in process."""
    from botocore.handlers import BUILTIN_HANDLERS

    # The generic event: IAM's answer is registered first on it (a more specific
    # event name, such as before-call.ses, would run ahead of IAM).
    if ("before-call", provider_lane) not in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.append(("before-call", provider_lane))
    _state["enabled"] = True


def disable() -> None:
    _state["enabled"] = False


@functools.cache
def _served_url(service: str):
    """moto's own URL pattern for the service's query endpoint (``url_bases`` + ``/``)."""
    import importlib

    bases = importlib.import_module(_URL_MODULES[service]).url_bases
    return re.compile("|".join(f"(?:{base}/$)" for base in bases))


@functools.cache
def _handler_class(service: str, operation: str):
    import importlib

    module, name, _method = OPERATIONS[(service, operation)]
    return getattr(importlib.import_module(module), name)


@functools.cache
def _moto_operation(service: str, operation: str):
    """moto's own operation model (``BaseResponse.parse_parameters`` uses the same)."""
    from moto.core.utils import get_service_model

    return get_service_model(service).operation_model(operation)


def _takes(service: str, url: str) -> bool:
    """The call is one moto's generic path would answer, with nothing of moto's
    own that the lane skips switched on."""
    from moto import settings
    from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
    from moto.core.models import botocore_stubber
    from moto.moto_api import recorder

    return (
        botocore_stubber.enabled
        and settings.INITIAL_NO_AUTH_ACTION_COUNT == float("inf")
        and not recorder._user_enabled
        and _served_url(service).match(url) is not None
        and not passthrough_url(url)
        and not passthrough_service(service)
        and service_whitelisted(service)
    )


def _form(body: dict) -> dict[str, str] | None:
    """botocore's query body as moto's form parser reads it back, when every value is
    text (a string UTF-8 cannot encode fails here as it fails in botocore's
    ``urlencode``); None for anything else (lists, dicts, bytes from a client without
    parameter validation, such as moto's own Step Functions SDK clients): ``urlencode``
    and werkzeug treat those in ways moto's own path gives exactly."""
    for value in body.values():
        if not isinstance(value, str):
            return None
        value.encode("utf-8")
    return body


def _signs(request_signer) -> bool:
    """botocore would sign this request (or knows it unsigned): without credentials it
    raises NoCredentialsError before anything is sent, so the lane must not answer."""
    from botocore import UNSIGNED

    if request_signer is None:
        return False
    if getattr(request_signer, "signature_version", None) is UNSIGNED:
        return True
    return getattr(request_signer, "_credentials", None) is not None


def _access_key(request_signer) -> str:
    """The access key moto reads from the SigV4 ``Authorization`` header."""
    credentials = getattr(request_signer, "_credentials", None)
    if credentials is None:
        return "AKIAEXAMPLE"
    from moto.core.responses import BaseResponse

    key = credentials.get_frozen_credentials().access_key
    match = BaseResponse.access_key_regex.search(f"AWS4-HMAC-SHA256 Credential={key}/")
    return match.group(1) if match else "AKIAEXAMPLE"


def _account(headers, access_key: str) -> str:
    """``BaseResponse.get_current_account``: environment, header, then access key."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if "x-moto-account-id" in headers:
        return headers["x-moto-account-id"]
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


def _handler(service: str, operation: str, params: dict, form: dict, request_signer):
    """moto's handler, set up as ``BaseResponse.setup_class`` sets it for this request."""
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.utils import utcnow
    from moto.iam.models import mark_account_as_visited
    from moto.utilities.utils import get_partition
    from werkzeug.datastructures import Headers
    from werkzeug.http import http_date

    cls = _handler_class(service, operation)
    handler = cls()
    url = params["url"]
    headers = Headers(params["headers"])
    headers["Content-Type"] = _FORM
    handler.uri = url
    handler.method = params["method"]
    handler.path = handler.raw_path = "/"
    handler.headers = headers
    handler.body = ""  # werkzeug's ``data`` once the form is parsed
    handler.raw_body = ""
    handler.form_data = form
    handler.querystring = handler.data = {key: [value] for key, value in form.items()}
    handler.uri_match = {}
    handler.is_werkzeug_request = False
    handler.response_headers = {"server": "amazon.com", "date": http_date(utcnow())}
    region_match = cls.region_regex.search(url)
    handler.region = region_match.group(1) if region_match else cls.default_region
    handler.partition = get_partition(handler.region)
    parser = PROTOCOL_PARSERS["query"](
        _moto_operation(service, operation), map_type=cls.PROTOCOL_PARSER_MAP_TYPE
    )
    handler.params = parser.parse(
        {
            "method": handler.method,
            "values": form,
            "headers": headers,
            "body": "",
            "url_path": "/",
            "url_params": {},
        }
    )
    handler.access_key = _access_key(request_signer)
    handler.current_account = _account(headers, handler.access_key)
    mark_account_as_visited(
        account_id=handler.current_account,
        access_key=handler.access_key,
        service=handler.service_name,
        region=handler.region,
    )
    return handler


def _respond(handler, method_name: str) -> tuple[int, dict, str]:
    """``BaseResponse.call_action`` for one known method (moto finds it by
    ``inspect.getmembers`` of the class on every call)."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult
    from werkzeug.exceptions import HTTPException

    ActionAuthenticatorMixin.request_count += 1  # moto counts every unauthenticated call
    headers = handler.response_headers
    try:
        response = getattr(handler, method_name)()
    except ServiceException as error:
        status, error_headers, body = handler.serialized(ActionResult(error))
        error_headers["status"] = status
        response = body, error_headers
    except HTTPException as http_error:
        error_headers = dict(http_error.get_headers() or [])
        error_headers["status"] = http_error.code
        response = http_error.description, error_headers
    if isinstance(response, ActionResult):
        status, headers, body = handler.serialized(response)
    elif isinstance(response, str):
        status, body = 200, response
    else:
        status, headers, body = handler._transform_response(headers, response)
    headers, body = handler._enrich_response(headers, body)
    return status, headers, body


def provider_lane(model, params, context, request_signer=None, **_kwargs):
    """botocore ``before-call`` handler: ``(http response, parsed)`` or None."""
    if not _state["enabled"]:
        return None
    service = model.service_model.service_name
    entry = OPERATIONS.get((service, model.name))
    if entry is None or not isinstance(params.get("body"), dict):
        return None
    denied = iam.answer(model=model, context=context)
    if denied is not None:  # IAM's verdict, whichever handler runs first
        return denied
    if not _takes(service, params.get("url", "")) or not _signs(request_signer):
        return None
    form = _form(params["body"])
    if form is None:
        return None
    from botocore.awsrequest import AWSResponse
    from botocore.endpoint import convert_to_response_dict
    from botocore.parsers import create_parser

    handler = _handler(service, model.name, params, form, request_signer)
    status, headers, body = _respond(handler, entry[2])
    http = AWSResponse(params["url"], status, headers, None)
    http._content = body.encode("utf-8") if isinstance(body, str) else body
    response = convert_to_response_dict(http, model)
    parser = create_parser(model.service_model.protocol)
    parsed = parser.parse(response, model.output_shape)
    if status >= 300:  # botocore's endpoint parses modeled error fields in a second pass
        code = parsed.get("Error", {}).get("Code")
        error_shape = model.service_model.shape_for_error_code(code) if code else None
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
    if "ResponseMetadata" in parsed:
        parsed["ResponseMetadata"]["RetryAttempts"] = 0  # as the endpoint records it
    return http, parsed
