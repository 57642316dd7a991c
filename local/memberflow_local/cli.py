"""The ``memberflow`` command: the local stack for people and tests."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def _quiet_logs() -> None:
    # Handlers log JSON through Powertools; on a terminal warnings are enough.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _start_time(text: str | None):
    """``--start``: an ISO date or date-time (UTC unless it says otherwise); default now."""
    from datetime import UTC, datetime

    if not text:
        # Like a deployment: real senders sign with the real time (Standard Webhooks
        # refuses timestamps more than five minutes away from the clock).
        return datetime.now(UTC).replace(microsecond=0)
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _refuse_remote(args) -> bool:
    """Print why the host is refused (before anything starts); True when refused."""
    from memberflow_local.server import refuse_remote_host

    refusal = refuse_remote_host(args.host, args.allow_remote)
    if refusal:
        print(f"memberflow serve: {refusal}", file=sys.stderr, flush=True)
    return refusal is not None


def _announce(server, stack, frozen_clock: bool) -> None:
    from memberflow_local.server import banner

    host, port = server.server_address[:2]
    mode = "frozen" if frozen_clock else "following real time"
    for line in banner(host, port, f"{stack.clock.now().isoformat()}, {mode}"):
        print(line, flush=True)


def cmd_serve(args) -> int:
    from memberflow.config import ConfigError
    from memberflow.config.versions import PublishRefused
    from memberflow.runtime import SettingsError
    from memberflow_local.programme import template_with_parameter
    from memberflow_local.server import follow_real_time, serve
    from memberflow_local.stack import LocalStack

    if _refuse_remote(args):
        return 2
    _quiet_logs()
    try:
        start = _start_time(args.start)
    except ValueError:
        print(
            f"memberflow serve: --start {args.start!r} is not an ISO date or time", file=sys.stderr
        )
        return 2
    try:
        stack = LocalStack(
            start=start,
            programme_file=args.programme,
            # the programme in the local SSM, as deployed: `memberflow programme publish`
            template=template_with_parameter(),
            # Requests arrive in real time: index lag passes on the wall clock too.
            index_lag_real_time=True,
        ).start()
    except (ConfigError, SettingsError, PublishRefused) as error:
        # Refuse to serve a stack whose every route would fail on its configuration.
        print(f"memberflow serve: {error}", file=sys.stderr)
        return 2
    server = serve(stack, args.host, args.port)
    ticker = None if args.frozen_clock else follow_real_time(stack, server.clock_lock)
    _announce(server, stack, args.frozen_clock)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if ticker is not None:
            ticker.set()
        server.server_close()
        stack.stop()
    return 0


def cmd_demo(args) -> int:
    from memberflow_local.demo import run_demo

    _quiet_logs()
    return run_demo(args)


def cmd_report(args) -> int:
    from pathlib import Path

    from memberflow_local.remote import fresh_kpis, get_json
    from memberflow_local.report import summary_table, write_report

    # The route serves the newest snapshot; by default ask for a fresh one first.
    if args.latest:
        kpis = get_json(args.api_url, "/reports/kpis")
    else:
        kpis = fresh_kpis(args.api_url)
    path = write_report(kpis, Path(args.out))
    print(summary_table(kpis))
    print(f"wrote {Path(args.out) / 'kpis.json'} and {path}")
    return 0


def cmd_import(args) -> int:
    """The go-live import (docs/import.md): prints the counts, or every bad line."""
    from pathlib import Path

    from memberflow_local.remote import import_file

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as error:
        print(f"memberflow import: cannot read {path}: {error.strerror}", file=sys.stderr)
        return 2
    status, answer = import_file(args.api_url, data)
    if status == 400 and "errors" in answer:
        print(f"memberflow import: {path} refused, nothing was written:", file=sys.stderr)
        for error in answer["errors"]:
            print(f"  line {error['line']}: {error['field']}: {error['reason']}", file=sys.stderr)
        return 1
    if status != 200 or answer.get("status") != "SUCCEEDED":
        print(f"memberflow import: {status} {json.dumps(answer)}", file=sys.stderr)
        return 1
    result = answer.get("result", {})
    print(
        f"imported {result.get('imported', 0):,} of {result.get('customers', 0):,} customers "
        f"({result.get('already_present', 0):,} already present, "
        f"{result.get('erased_skipped', 0):,} erased), {result.get('orders', 0):,} orders"
    )
    stages = {k[6:]: v for k, v in sorted(result.items()) if k.startswith("stage_")}
    if stages:
        print("stages   " + "  ".join(f"{k} {v:,}" for k, v in stages.items()))
    return 0


def _print_version(published: dict) -> None:
    state = "published" if published.get("changed", True) else "already current, nothing written"
    print(
        f"programme {published['version']} ({published['fingerprint']}): SSM "
        f"{published['parameter']} version {published['ssm_version']}, "
        f"{published['tier']} tier; {state}"
    )


def cmd_programme_publish(args) -> int:
    """Validate a programme document and publish it as a new version (docs/publishing.md):
    through a stack's ``PUT /programme``, or with --parameter straight to SSM."""
    from pathlib import Path

    from memberflow.config import ConfigError
    from memberflow.config.versions import PublishRefused, parse_document

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as error:
        print(
            f"memberflow programme publish: cannot read {path}: {error.strerror}", file=sys.stderr
        )
        return 2
    refused = f"memberflow programme publish: {path} refused, nothing was published:"
    try:
        parse_document(data)  # the same validation as start-up, before anything is sent
    except ConfigError as bad:
        print(f"{refused}\n  {bad.field}: {bad.rule}", file=sys.stderr)
        return 1
    if args.parameter:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        from memberflow.config.versions import publish

        try:
            published = publish(boto3.client("ssm", region_name=args.region), args.parameter, data)
        except PublishRefused as bad:
            print(f"{refused}\n  {bad.field}: {bad.reason}", file=sys.stderr)
            return 1
        except (BotoCoreError, ClientError) as error:  # credentials, AccessDenied, throttling
            print(f"memberflow programme publish: SSM refused: {error}", file=sys.stderr)
            return 2
        _print_version(published.as_dict())
        return 0
    import urllib.error

    from memberflow_local.remote import request_json

    try:
        status, answer = request_json(args.api_url, "/programme", method="PUT", body=data)
    except urllib.error.URLError as error:
        print(
            f"memberflow programme publish: cannot reach {args.api_url}: {error.reason}",
            file=sys.stderr,
        )
        return 2
    if status in (200, 201):
        _print_version(answer)
        return 0
    error = answer.get("error") or {}
    if 400 <= status < 500 and error.get("field"):
        print(f"{refused}\n  {error['field']}: {error.get('reason')}", file=sys.stderr)
    else:
        print(f"memberflow programme publish: {status} {json.dumps(answer)}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memberflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the embedded local stack behind HTTP")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="serve on a non-loopback --host although the local member API is unauthenticated",
    )
    p_serve.add_argument("--port", type=int, default=3000)
    p_serve.add_argument("--programme", help="programme configuration file (JSON)")
    p_serve.add_argument(
        "--start", help="the clock's start, ISO date or date-time (default: the real time now)"
    )
    p_serve.add_argument(
        "--frozen-clock",
        action="store_true",
        help="the clock moves only with POST /_local/clock/advance (default: it ticks with real time)",
    )
    p_serve.set_defaults(func=cmd_serve)
    p_demo = sub.add_parser("demo", help="run the main job on the embedded local stack")
    p_demo.add_argument("--members", type=int, default=2000)
    p_demo.add_argument("--days", type=int, default=180)
    p_demo.add_argument("--seed", type=int, default=7)
    p_demo.add_argument("--out", default="out")
    p_demo.add_argument("--programme", help="programme configuration file (JSON)")
    p_demo.add_argument("--effect", type=float, help="planted message effect (default 0.2)")
    p_demo.set_defaults(func=cmd_demo)
    p_report = sub.add_parser("report", help="the programme report from a running stack")
    p_report.add_argument(
        "--api-url",
        default="http://127.0.0.1:3000",
        help="stack base URL (default: a local `memberflow serve`); "
        "https URLs are signed with SigV4 from your AWS credentials",
    )
    p_report.add_argument("--out", default="out")
    p_report.add_argument(
        "--latest",
        action="store_true",
        help="read the newest KPI snapshot as it is instead of asking for a fresh one",
    )
    p_report.set_defaults(func=cmd_report)
    p_import = sub.add_parser(
        "import", help="go-live import of the existing customers (JSON Lines, docs/import.md)"
    )
    p_import.add_argument("file", help="JSON Lines file: one customer a line")
    p_import.add_argument(
        "--api-url",
        default="http://127.0.0.1:3000",
        help="stack base URL (default: a local `memberflow serve`); "
        "https URLs are signed with SigV4 from your AWS credentials",
    )
    p_import.set_defaults(func=cmd_import)
    p_programme = sub.add_parser("programme", help="the programme configuration's versions")
    programme_sub = p_programme.add_subparsers(dest="programme_command", required=True)
    p_publish = programme_sub.add_parser(
        "publish",
        help="validate a programme document and publish it as a new version (docs/publishing.md)",
    )
    p_publish.add_argument("file", help="programme configuration file (JSON)")
    p_publish.add_argument(
        "--api-url",
        default="http://127.0.0.1:3000",
        help="stack base URL (default: a local `memberflow serve`); "
        "https URLs are signed with SigV4 from your AWS credentials",
    )
    p_publish.add_argument(
        "--parameter",
        help="publish straight to this SSM parameter with your AWS credentials (no API)",
    )
    p_publish.add_argument("--region", help="with --parameter: the AWS region")
    p_publish.set_defaults(func=cmd_programme_publish)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
