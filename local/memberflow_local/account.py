"""The one account and region the local stack plays (moto's defaults)."""

REGION = "us-east-1"
ACCOUNT = "123456789012"


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"
