"""Lambda, in-process: the ASL engine's and the APIs' invocations run the handler
template.yaml names (seam: ``LambdaSimpleBackend.invoke``), within its Timeout, acting as
its role, one at a time; asynchronous invocations run later and are retried as Lambda's."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass
from typing import Any

from memberflow_local import asl, iam
from memberflow_local.budget import Deadline, Ended, LambdaTimeout

log = logging.getLogger("memberflow.local")


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int
    # The function's Timeout x the stack's timeout_scale, as it runs (budget.Deadline).
    budget: Deadline | None = None

    def get_remaining_time_in_millis(self) -> int:
        if self.budget is None:
            return self.timeout_seconds * 1000
        return max(0, int(self.budget.remaining() * 1000))


class LambdaRuntime:
    """Part of :class:`memberflow_local.stack.LocalStack`: invoking the functions."""

    def _install_lambda_seam(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        stack = self

        def invoke(self, function_name, qualifier, body, headers, response_headers):
            # seam: LambdaSimpleBackend.invoke -> the real handler, in-process
            logical_id = stack._logical_function(function_name)
            if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
                # Lambda's asynchronous invocation: accepted at once (202), run later
                stack.invoke_async(logical_id, json.loads(body) if body else {})
                return b""
            try:
                payload = json.loads(body) if body else {}
                result = stack.invoke(logical_id, payload)
                return json.dumps(result, default=str).encode()
            except LambdaTimeout as error:  # Lambda's own error, as Step Functions sees it
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps(
                    {"errorType": error.error_type, "errorMessage": str(error)}
                ).encode()
            except Exception as error:  # noqa: BLE001 - reported as a Lambda function error
                response_headers["x-amz-function-error"] = "Unhandled"
                log.warning("%s failed: %s", logical_id, traceback.format_exc(limit=-4))
                return json.dumps(
                    {"errorType": type(error).__name__, "errorMessage": str(error)}
                ).encode()

        LambdaSimpleBackend.invoke = invoke
        asl.install()

    def _logical_function(self, name_or_arn: str) -> str:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        for logical_id, physical in self.physical.items():
            if physical.get("Ref") == name and logical_id in self.functions:
                return logical_id
        raise KeyError(f"no function {name_or_arn} in template.yaml")

    def handler(self, logical_id: str):
        """Import the handler template.yaml names for ``logical_id`` (CodeUri + Handler)."""
        with self._handler_lock:
            if logical_id not in self._handlers:
                spec = self.functions[logical_id]
                module_name, function_name = spec.handler.rsplit(".", 1)
                path = spec.code_uri / (module_name.replace(".", "/") + ".py")
                unique = f"memberflow_function_{logical_id}"
                module_spec = importlib.util.spec_from_file_location(unique, path)
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[unique] = module
                module_spec.loader.exec_module(module)
                # Every invocation acts as the function's role (iam.py).
                self._handlers[logical_id] = iam.bind(
                    self, logical_id, getattr(module, function_name)
                )
            return self._handlers[logical_id]

    def invoke_async(self, logical_id: str, event: dict, retries: int = 2) -> None:
        """An asynchronous invocation (``InvocationType=Event``), as Lambda runs one: on
        its own, after the caller got its 202, retried twice on error (Lambda's default).
        Counted as busy work on the clock, so ``wait_idle``/``advance`` wait for it."""
        self.clock.execution_started()

        def run() -> None:
            try:
                for attempt in range(1 + retries):
                    try:
                        self.invoke(logical_id, event)
                        return
                    except Exception:  # noqa: BLE001 - Lambda retries, then drops the event
                        log.warning(
                            "%s async attempt %d failed: %s",
                            logical_id,
                            attempt + 1,
                            traceback.format_exc(limit=-4),
                        )
            finally:
                self.clock.execution_finished()

        threading.Thread(target=run, name=f"async-{logical_id}", daemon=True).start()

    def invoke(self, logical_id: str, event: dict, *, budget_seconds: float | None = None) -> Any:
        """Run the handler within its Timeout (x timeout_scale, real time); past it the
        invocation is ended and :class:`LambdaTimeout` raised, as Lambda reports it.
        ``budget_seconds`` (unscaled): a caller that gives up sooner (API Gateway)."""
        spec = self.functions[logical_id]
        handler = self.handler(logical_id)
        with self._invocation_lock:
            timeout = spec.timeout if budget_seconds is None else min(spec.timeout, budget_seconds)
            deadline = Deadline(timeout * self.timeout_scale)
            context = LambdaContext(
                function_name=self.physical[logical_id]["Ref"],
                memory_limit_in_mb=spec.memory,
                invoked_function_arn=self.physical[logical_id]["Arn"],
                aws_request_id=str(uuid.uuid4()),
                timeout_seconds=spec.timeout,
                # What the function knows of: its own Timeout (not API Gateway's).
                budget=deadline
                if timeout == spec.timeout
                else Deadline(spec.timeout * self.timeout_scale),
            )
            self.invocations[logical_id] = self.invocations.get(logical_id, 0) + 1
            try:
                with deadline:
                    return handler(event, context)
            except Ended:
                raise LambdaTimeout(context.aws_request_id, timeout) from None
