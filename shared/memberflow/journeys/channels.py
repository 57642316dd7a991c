"""Channel adapters: SES email, SNS SMS, an EventBridge hand-off to an external ESP,
and a Standard-Webhooks-signed outbound webhook. Which one a step uses is configuration.

Adapters receive ids and rendered text only for the recipient; nothing here is logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.request
from dataclasses import dataclass
from functools import cached_property, lru_cache

from memberflow.clock import now


class Undeliverable(Exception):
    """The member has no address for this channel: skip, do not retry."""


class Rejected(Exception):
    """The provider refused this recipient for good (SES ``MessageRejected``: in the SES
    sandbox, a recipient that is not verified): record once, never retry."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class Throttled(Exception):
    """The provider's sending rate was exceeded: send again later, not a failure."""


# Provider error codes (botocore ``ClientError``) that are the recipient's, permanently.
PERMANENT_CODES = {"MessageRejected"}
THROTTLE_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException"}


def _provider_call(call, **params):
    """Call a provider API, sorting its errors into permanent, throttled and the rest."""
    from botocore.exceptions import ClientError

    try:
        return call(**params)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in PERMANENT_CODES:
            raise Rejected(code) from None  # the message may name the address: not kept
        if code in THROTTLE_CODES:
            raise Throttled(code) from None
        raise


@dataclass(frozen=True)
class Outgoing:
    member_id: str
    journey: str
    cohort_id: str
    step: str
    template: str
    locale: str
    message_key: str
    subject: str
    body: str
    coupon_code: str | None = None


@lru_cache(maxsize=16)
def _client(service: str, region: str | None):
    """One client per service and region for the life of the process (created outside
    the per-invocation path, as Lambda recommends; clients are thread-safe)."""
    import boto3

    return boto3.client(service, region_name=region)


class ChannelAdapters:
    def __init__(
        self,
        *,
        email_sender: str,
        event_bus: str = "",
        webhook_url: str = "",
        webhook_secret: str = "",
        region: str | None = None,
    ):
        self.email_sender = email_sender
        self.event_bus = event_bus
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.region = region

    def _client(self, service: str):
        return _client(service, self.region)

    @cached_property
    def _ses(self):
        return self._client("ses")

    @cached_property
    def _sns(self):
        return self._client("sns")

    @cached_property
    def _events(self):
        return self._client("events")

    def send(self, channel: str, message: Outgoing, *, email: str | None, phone: str | None) -> str:
        if channel == "email":
            if not email:
                raise Undeliverable("no email address")
            response = _provider_call(
                self._ses.send_email,
                Source=self.email_sender,
                Destination={"ToAddresses": [email]},
                Message={
                    "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": message.body, "Charset": "UTF-8"}},
                },
                Tags=[
                    {"Name": "journey", "Value": message.journey},
                    {"Name": "step", "Value": message.step},
                ],
            )
            return response["MessageId"]
        if channel == "sms":
            if not phone:
                raise Undeliverable("no phone number")
            response = _provider_call(self._sns.publish, PhoneNumber=phone, Message=message.body)
            return response["MessageId"]
        if channel == "esp":
            return self._hand_off_to_esp(message)
        if channel == "webhook":
            return self._post_webhook(message)
        raise ValueError(f"unknown channel {channel}")

    def _payload(self, message: Outgoing) -> dict:
        # Ids only: the ESP or receiver resolves the member in its own profile store.
        return {
            "member_id": message.member_id,
            "journey": message.journey,
            "cohort_id": message.cohort_id,
            "step": message.step,
            "template": message.template,
            "locale": message.locale,
            "message_key": message.message_key,
            "coupon_code": message.coupon_code,
        }

    def _hand_off_to_esp(self, message: Outgoing) -> str:
        response = self._events.put_events(
            Entries=[
                {
                    "Source": "memberflow.journeys",
                    "DetailType": "JourneyMessageRequested",
                    "Detail": json.dumps(self._payload(message)),
                    "EventBusName": self.event_bus or "default",
                }
            ]
        )
        entry = response["Entries"][0]
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the hand-off: {entry.get('ErrorCode')}")
        return entry["EventId"]

    def _post_webhook(self, message: Outgoing) -> str:
        if not self.webhook_url:
            raise Undeliverable("no outbound webhook URL configured")
        body = json.dumps({"type": "journey.message", "data": self._payload(message)}).encode()
        msg_id = "msg_" + hashlib.sha256(message.message_key.encode()).hexdigest()[:24]
        timestamp = str(int(now().timestamp()))
        key = base64.b64decode(self.webhook_secret.removeprefix("whsec_"))
        signature = base64.b64encode(
            hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        ).decode()
        request = urllib.request.Request(
            self.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": f"v1,{signature}",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - configured URL
            if response.status >= 300:
                raise RuntimeError(f"outbound webhook answered {response.status}")
        return msg_id
