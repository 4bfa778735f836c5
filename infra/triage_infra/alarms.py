"""CloudWatch alarms of one stage: 5xx rate, p99 latency, unhealthy tasks, and the monitor's drift verdict.

Every alarm notifies the stage's SNS topic (KMS-encrypted; an e-mail subscription when alarm_email is set).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from .environments import DRIFT_DIMENSION, DRIFT_METRIC, DRIFT_NAMESPACE, StageConfig

ONE_MINUTE = Duration.minutes(1)
ONE_DAY = Duration.days(1)


def drift_metric(stage: str, statistic: str) -> cloudwatch.Metric:
    """The metric `aws cloudwatch put-metric-data` in .github/workflows/monitor.yml writes: 1 drift, 0 none."""
    return cloudwatch.Metric(namespace=DRIFT_NAMESPACE, metric_name=DRIFT_METRIC,
                             dimensions_map={DRIFT_DIMENSION: stage}, statistic=statistic, period=ONE_DAY)


class Alarms(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig, key: kms.IKey,
                 load_balancer: elbv2.ApplicationLoadBalancer, target_group: elbv2.ApplicationTargetGroup,
                 alarm_email: str | None) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name=f"triage {stage.name} alarms", master_key=key,
                               enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        name = stage.name

        requests = load_balancer.metrics.request_count(period=Duration.minutes(5))
        target_5xx = load_balancer.metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT,
                                                            period=Duration.minutes(5))
        elb_5xx = load_balancer.metrics.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=Duration.minutes(5))
        error_rate = cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)",
            using_metrics={"requests": requests, "target5xx": target_5xx, "elb5xx": elb_5xx},
            label="5xx responses (% of requests)", period=Duration.minutes(5))
        self._add("ErrorRate", error_rate, threshold=stage.error_rate_percent, periods=3, datapoints=2,
                  description=f"triage {name}: more than {stage.error_rate_percent}% of requests answered 5xx "
                              "(service or load balancer) in 2 of 3 five-minute periods")

        latency = target_group.metrics.target_response_time(statistic="p99", period=ONE_MINUTE)
        self._add("LatencyP99", latency, threshold=stage.p99_latency_ms / 1000, periods=5, datapoints=3,
                  description=f"triage {name}: p99 latency above {stage.p99_latency_ms} ms in 3 of 5 minutes")

        unhealthy = target_group.metrics.unhealthy_host_count(statistic="Maximum", period=ONE_MINUTE)
        self._add("UnhealthyTasks", unhealthy, threshold=1, periods=3, datapoints=3,
                  comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                  description=f"triage {name}: a task failed /readyz for 3 minutes (model missing or refused, or "
                              "the process is stuck)")

        self._add("Drift", drift_metric(name, "Maximum"), threshold=1, periods=1, datapoints=1,
                  comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                  description=f"triage {name}: the monitor workflow found drift in the prediction log (a retraining "
                              "run was dispatched; read the drift report of that run)")
        if stage.monitor_scheduled:
            self._add("DriftVerdictMissing", drift_metric(name, "SampleCount"), threshold=1, periods=2,
                      datapoints=2, comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                      missing=cloudwatch.TreatMissingData.BREACHING,
                      description=f"triage {name}: no drift verdict for two days (the scheduled monitor failed or "
                                  "found too few predictions)")

    def _add(self, construct_id: str, metric: cloudwatch.IMetric, *, threshold: float, periods: int, datapoints: int,
             description: str,
             comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
             missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING) -> None:
        alarm = cloudwatch.Alarm(self, construct_id, metric=metric, threshold=threshold, evaluation_periods=periods,
                                 datapoints_to_alarm=datapoints, comparison_operator=comparison,
                                 treat_missing_data=missing, alarm_description=description)
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms[construct_id] = alarm
