"""IAM on the local stack, the requests: the actions and resource ARNs (and condition
keys) an AWS call asks for, as AWS would check them."""

from __future__ import annotations


# ---------------------------------------------------------------------- requests
def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _dynamodb(op: str, params: dict, region: str, account: str) -> list[tuple[str, str]]:
    def table(name: str, index: str | None = None) -> str:
        arn = (
            name if name.startswith("arn:") else _arn("dynamodb", region, account, f"table/{name}")
        )
        return f"{arn}/index/{index}" if index else arn

    if op == "TransactWriteItems":
        # Authorised item by item, each with its own action (no TransactWriteItems action).
        actions = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return [
            (f"dynamodb:{actions[kind]}", table(item["TableName"]))
            for entry in params.get("TransactItems", [])
            for kind, item in entry.items()
            if kind in actions
        ]
    if op == "TransactGetItems":
        return [
            ("dynamodb:GetItem", table(entry["Get"]["TableName"]))
            for entry in params.get("TransactItems", [])
            if "Get" in entry
        ]
    if op in ("BatchGetItem", "BatchWriteItem"):
        # One authorisation per table, with the batch action (IAM has these actions).
        return [(f"dynamodb:{op}", table(name)) for name in params.get("RequestItems", {})]
    if "TableName" in params:
        return [(f"dynamodb:{op}", table(params["TableName"], params.get("IndexName")))]
    return [(f"dynamodb:{op}", "*")]


def _secret_arn(secret_id: str, region: str, account: str) -> str:
    """The secret's full ARN, random suffix included, as IAM sees it."""
    from moto.secretsmanager.models import secretsmanager_backends

    try:
        secret = secretsmanager_backends[account][region].secrets.get(secret_id)
    except Exception:  # noqa: BLE001 - an unknown secret is answered by the service
        secret = None
    if secret is not None:
        return secret.arn
    if secret_id.startswith("arn:"):
        return secret_id
    return _arn("secretsmanager", region, account, f"secret:{secret_id}")


def _ses_identity(params: dict, region: str, account: str) -> str:
    from email.utils import parseaddr

    from moto.ses.models import ses_backends

    if params.get("SourceArn"):
        return params["SourceArn"]
    source = params.get("Source") or params.get("FromEmailAddress") or ""
    address = parseaddr(source)[1]
    identities = ses_backends[account][region].email_identities
    # The identity that authorises the sender: the address if verified as such, else
    # its domain.
    identity = address
    if address not in identities and address.split("@")[-1].lower() in identities:
        identity = address.split("@")[-1].lower()
    return _arn("ses", region, account, f"identity/{identity}")


def condition_keys(model, params: dict) -> dict[str, str]:
    """The condition keys (lower-case) AWS sets for this request, of CONDITION_KEYS."""
    from email.utils import parseaddr

    service = model.service_model.signing_name
    if service == "ses" and model.name.startswith("Send"):
        source = params.get("Source") or params.get("FromEmailAddress") or ""
        return {"ses:fromaddress": parseaddr(source)[1]}
    return {}


def requests(model, params: dict, region: str, account: str) -> list[tuple[str, str, str]]:
    """(action, resource ARN IAM checks, resource AWS names in its message) per
    authorisation one API call needs."""
    service = model.service_model.signing_name
    op = model.name
    out: list[tuple[str, str]]
    if service == "dynamodb":
        out = _dynamodb(op, params, region, account)
    elif service == "states":
        if "stateMachineArn" in params:
            out = [(f"states:{op}", params["stateMachineArn"])]
        elif "executionArn" in params:
            out = [(f"states:{op}", params["executionArn"])]
        else:
            out = [(f"states:{op}", "*")]
    elif service == "lambda":
        name = params.get("FunctionName", "")
        qualifier = params.get("Qualifier")
        if name.startswith("arn:"):
            arn = name
        elif ":function:" in name:  # partial ARN: 123456789012:function:name
            arn = f"arn:aws:lambda:{region}:{name}"
        elif name:
            arn = _arn("lambda", region, account, f"function:{name}")
        else:
            arn = "*"
        if qualifier and arn != "*":
            arn = f"{arn}:{qualifier}"
        action = "InvokeFunction" if op in ("Invoke", "InvokeWithResponseStream") else op
        out = [(f"lambda:{action}", arn)]
    elif service == "ses" and op.startswith("Send"):
        out = [(f"ses:{op}", _ses_identity(params, region, account))]
    elif service == "sns" and op in ("Publish", "PublishBatch"):
        target = params.get("TopicArn") or params.get("TargetArn")
        if target:
            out = [(f"sns:{op}", target)]
        else:  # SMS to a phone number: IAM checks "*", AWS names the number
            return [("sns:Publish", "*", params.get("PhoneNumber", "*"))]
    elif service == "events" and op == "PutEvents":
        buses = {entry.get("EventBusName") or "default" for entry in params.get("Entries", [])}
        out = [
            (
                "events:PutEvents",
                bus
                if bus.startswith("arn:")
                else _arn("events", region, account, f"event-bus/{bus}"),
            )
            for bus in sorted(buses)
        ]
    elif service == "s3" and "Bucket" in params:
        # Object operations on arn:aws:s3:::bucket/key, bucket operations on the bucket;
        # HeadObject and ranged reads need s3:GetObject, as in AWS.
        bucket = params["Bucket"]
        action = {"HeadObject": "GetObject", "ListObjectsV2": "ListBucket"}.get(op, op)
        if "Key" in params:
            out = [(f"s3:{action}", f"arn:aws:s3:::{bucket}/{params['Key']}")]
        else:
            out = [(f"s3:{action}", f"arn:aws:s3:::{bucket}")]
    elif service == "secretsmanager" and "SecretId" in params:
        out = [(f"secretsmanager:{op}", _secret_arn(params["SecretId"], region, account))]
    elif service == "secretsmanager" and "SecretIdList" in params:
        out = [
            (f"secretsmanager:{op}", _secret_arn(s, region, account))
            for s in params["SecretIdList"]
        ]
    elif service == "ssm" and ("Name" in params or "Names" in params or "Path" in params):
        names = params.get("Names") or [params.get("Name") or params.get("Path")]

        def parameter(name: str) -> str:
            if name.startswith("arn:"):
                return name
            return _arn("ssm", region, account, f"parameter/{name.lstrip('/')}")

        out = [(f"ssm:{op}", parameter(name)) for name in names]
    else:
        # Anything else: the operation's action on "*" (a policy scoped to resources
        # never grants it, so the local stack is never more lenient).
        out = [(f"{service}:{op}", "*")]
    return [(action, resource, resource) for action, resource in out]
