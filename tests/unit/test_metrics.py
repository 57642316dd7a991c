"""Programme metrics: emitted as EMF when enabled, silent (and not accumulating) when not."""

import json

from memberflow import metrics


def test_counts_are_published_as_embedded_metric_format(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setattr(metrics.metrics, "namespace", "memberflow")  # template.yaml sets it
    metrics.count("MessagesSent", 2)
    metrics.count("MessagesCapped", 0)  # zero counts are not sent
    metrics.metrics.flush_metrics()
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert line["MessagesSent"] == [2.0] and "MessagesCapped" not in line
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "memberflow"


def test_disabled_metrics_neither_print_nor_pile_up(monkeypatch, capsys):
    # Powertools prints a metric set once a metric holds 100 values, even when metrics
    # are disabled; a disabled run must therefore not add them at all.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics.metrics.clear_metrics()
    for _ in range(250):
        metrics.count("DeliveriesApplied")
    assert "DeliveriesApplied" not in capsys.readouterr().out
    assert not metrics.metrics.metric_set
