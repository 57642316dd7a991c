"""The stack's resources, created through the AWS APIs (moto) from template.yaml: names
first (functions and machines refer to each other through them), then tables, buckets,
functions, secrets, shops, channels, state machines, the API and the schedules; and the
schedules' jobs on the virtual clock."""

from __future__ import annotations

import io
import json
import os
import zipfile
from datetime import datetime

from memberflow.webhooks.secrets import (
    DEV_MEMBERFLOW_SECRET,
    DEV_SHOPIFY_SECRET,
    DEV_WOOCOMMERCE_SECRET,
)
from memberflow_local import schedule as schedules
from memberflow_local.account import ACCOUNT, REGION
from memberflow_local.template import Resolver, substitute_definition

# Development defaults for the webhook secrets (docs/local-stack.md); override with
# the environment variables of the same names.
DEV_SECRETS = {
    "SHOPIFY_WEBHOOK_SECRET": DEV_SHOPIFY_SECRET,
    "WOOCOMMERCE_WEBHOOK_SECRET": DEV_WOOCOMMERCE_SECRET,
    "MEMBERFLOW_WEBHOOK_SECRET": DEV_MEMBERFLOW_SECRET,
}


class TemplateResources:
    """Part of :class:`memberflow_local.stack.LocalStack`: what template.yaml declares."""

    def client(self, service: str):
        import boto3

        return boto3.client(service, region_name=REGION)

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"

    def _name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def _create_resources(self) -> None:
        t = self.template
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        resolver = Resolver(t, self.physical, pseudo)
        # Names first (functions and machines refer to each other through them).
        for logical_id in t.tables:
            name = self._name(logical_id)
            self.physical[logical_id] = {"Ref": name, "Arn": self._arn("dynamodb", f"table/{name}")}
        for logical_id, spec in t.functions.items():
            name = resolver.resolve(spec.name) if spec.name else self._name(logical_id)
            arn = self._arn("lambda", f"function:{name}")
            self.physical[logical_id] = {"Ref": name, "Arn": arn}
        for logical_id, spec in t.state_machines.items():
            name = resolver.resolve(spec.name)
            arn = self._arn("states", f"stateMachine:{name}")
            self.physical[logical_id] = {"Ref": arn, "Arn": arn, "Name": name}
        for logical_id, resource in t.of_type("AWS::Events::EventBus").items():
            name = resolver.resolve(resource["Properties"]["Name"])
            self.physical[logical_id] = {
                "Ref": name,
                "Name": name,
                "Arn": self._arn("events", f"event-bus/{name}"),
            }
        for logical_id in t.of_type("AWS::S3::Bucket"):
            # CloudFormation names a bucket without BucketName after the stack (lower case).
            name = self._name(logical_id).lower()
            self.physical[logical_id] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
        for logical_id in t.of_type("AWS::Serverless::Api"):
            self.physical[logical_id] = {"Ref": "local"}
        for logical_id in t.of_type("AWS::Serverless::LayerVersion"):
            self.physical[logical_id] = {"Ref": self._arn("lambda", f"layer:{logical_id}:1")}

        self._create_tables()
        for logical_id in t.of_type("AWS::S3::Bucket"):
            self.client("s3").create_bucket(Bucket=self.physical[logical_id]["Ref"])
        role = self.client("iam").create_role(
            RoleName=f"{self.stack_name}-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        self._create_functions(resolver, role)
        self._create_secrets(resolver)
        from memberflow_local.programme import create_parameter

        create_parameter(self.client("ssm"), resolver, self.programme_file)
        self._create_shops(resolver)
        self._create_channels(resolver)
        for logical_id, spec in t.state_machines.items():
            values = {k: str(resolver.resolve(v)) for k, v in spec.substitutions.items()}
            definition = substitute_definition(spec.definition_path.read_text(), values)
            self.client("stepfunctions").create_state_machine(
                name=self.physical[logical_id]["Name"],
                definition=definition,
                roleArn=role,
                type=spec.type,
            )
        self._create_api()
        self._create_schedules(role)

    def _create_tables(self) -> None:
        dynamodb = self.client("dynamodb")
        for logical_id, props in self.template.tables.items():
            request = {
                "TableName": self.physical[logical_id]["Ref"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if props.get("GlobalSecondaryIndexes"):
                request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            if props.get("StreamSpecification"):
                request["StreamSpecification"] = props["StreamSpecification"]
                dynamodb.keep_stream_images()
            dynamodb.create_table(**request)
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(
                    TableName=request["TableName"], TimeToLiveSpecification=ttl
                )

    def _create_functions(self, resolver: Resolver, role: str) -> None:
        lam = self.client("lambda")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("README", "code runs in-process from template.yaml's CodeUri")
        shared_env: dict[str, str] = {}
        for logical_id, spec in self.functions.items():
            env = {k: str(resolver.resolve(v)) for k, v in spec.environment.items()}
            for key, value in env.items():
                if shared_env.get(key, value) != value:
                    raise ValueError(
                        f"{logical_id}: {key} differs between functions; the local stack shares one environment"
                    )
                shared_env[key] = value
            lam.create_function(
                FunctionName=self.physical[logical_id]["Ref"],
                Runtime=spec.runtime,
                Role=role,
                Handler=spec.handler,
                Code={"ZipFile": buffer.getvalue()},
                Timeout=spec.timeout,
                MemorySize=spec.memory,
                Environment={"Variables": env},
            )
        if self.programme_file:
            shared_env["MEMBERFLOW_PROGRAMME_FILE"] = str(self.programme_file)
        self._saved_environ = {key: os.environ.get(key) for key in shared_env}
        self._saved_environ.setdefault(
            "MEMBERFLOW_PROGRAMME_FILE", os.environ.get("MEMBERFLOW_PROGRAMME_FILE")
        )
        os.environ.update(shared_env)
        self.function_environment = shared_env

    def _create_secrets(self, resolver: Resolver) -> None:
        from memberflow.config import load_programme
        from memberflow.webhooks.secrets import dev_secret_map

        values = {k: self.environ.get(k) or default for k, default in DEV_SECRETS.items()}
        self.webhook_secrets = values
        # one secret holding a map: a development secret for every key the programme's
        # sources name (docs/platforms/README.md); the variables above override theirs
        sources = load_programme(self.programme_file or None).sources
        self.webhook_secret_map = dev_secret_map(
            sources,
            {
                "shopify": values["SHOPIFY_WEBHOOK_SECRET"],
                "woocommerce": values["WOOCOMMERCE_WEBHOOK_SECRET"],
                "memberflow": values["MEMBERFLOW_WEBHOOK_SECRET"],
            },
        )
        self.client("secretsmanager").create_secret(
            Name=resolver.ref("WebhookSecretName"),
            SecretString=json.dumps(self.webhook_secret_map),
        )
        # a new stack in the same process: Powertools must not serve the last one's secret
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()

    def _create_shops(self, resolver: Resolver) -> None:
        """The local shops endpoint (memberflow_local.shops) with the development shop
        credentials, in the secret template.yaml names; the adapters are pointed at it
        through MEMBERFLOW_LOCAL_SHOPS_URL, a setting only the local stack sets."""
        from memberflow.config import load_programme
        from memberflow.shops.factory import dev_credentials_map
        from memberflow_local.shops import LocalShops, ShopTime

        sources = load_programme(self.programme_file or None).sources
        self.shop_credentials = dev_credentials_map(sources)
        self.client("secretsmanager").create_secret(
            Name=resolver.ref("ShopCredentialsSecretName"),
            SecretString=json.dumps(self.shop_credentials),
        )
        self.shops = LocalShops(clock=ShopTime(self.clock.now)).start()
        self.shops.add_sources(sources, self.shop_credentials)
        self._saved_environ.setdefault(
            "MEMBERFLOW_LOCAL_SHOPS_URL", os.environ.get("MEMBERFLOW_LOCAL_SHOPS_URL")
        )
        os.environ["MEMBERFLOW_LOCAL_SHOPS_URL"] = self.shops.url

    def _create_channels(self, resolver: Resolver) -> None:
        self.client("ses").verify_email_identity(EmailAddress=resolver.ref("EmailSender"))
        for logical_id in self.template.of_type("AWS::Events::EventBus"):
            self.client("events").create_event_bus(Name=self.physical[logical_id]["Name"])

    def _create_api(self) -> None:
        apigw = self.client("apigateway")
        api_id = apigw.create_rest_api(name=self.stack_name)["id"]
        resources = {r["path"]: r["id"] for r in apigw.get_resources(restApiId=api_id)["items"]}
        for route in self.routes:
            parent = "/"
            for part in route.path.strip("/").split("/"):
                path = parent.rstrip("/") + "/" + part
                if path not in resources:
                    resources[path] = apigw.create_resource(
                        restApiId=api_id, parentId=resources[parent], pathPart=part
                    )["id"]
                parent = path
            apigw.put_method(
                restApiId=api_id,
                resourceId=resources[route.path],
                httpMethod=route.method,
                authorizationType="AWS_IAM" if route.authorised else "NONE",
            )
        self.api_id = api_id

    def _create_schedules(self, role: str) -> None:
        scheduler = self.client("scheduler")
        self.schedules = self.template.schedules
        for entry in self.schedules:
            scheduler.create_schedule(
                Name=entry.name,
                ScheduleExpression=entry.expression,
                ScheduleExpressionTimezone=entry.timezone,
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={
                    "Arn": self.physical[entry.function]["Arn"],
                    "RoleArn": role,
                    "Input": "{}",
                },
            )

    # ================================================================ scheduled jobs
    def _due_jobs(self, after: datetime, until: datetime):
        jobs = []
        for entry in self.schedules:
            for fire_at in schedules.occurrences(entry.expression, after, until):
                if self._jobs_fired.get(entry.name) and fire_at <= self._jobs_fired[entry.name]:
                    continue
                jobs.append((fire_at, self._job(entry, fire_at)))
                break
        jobs.sort(key=lambda job: job[0])
        return jobs

    def _job(self, entry, fire_at: datetime):
        def run() -> None:
            self._jobs_fired[entry.name] = fire_at
            self.invoke(
                entry.function, {"schedule": entry.name, "scheduled_time": fire_at.isoformat()}
            )

        return run
