public import KumoCore
public import KumoProtocols
public import KumoStore
import GRDB

/// Amazon EC2 Auto Scaling: groups kept at their desired capacity by the `reconciler`, scaled
/// by policies that CloudWatch alarms (or users) run.
public struct AutoScalingProvider: ServiceProvider {
    public let service = "autoscaling"
    public let operations: [String: OperationHandler]
    public let reconciler: Reconciler
    let asg: AutoScaling

    public init(
        store: Store, clock: KumoClock, launcher: any InstanceLauncher, registrar: any TargetRegistrar, network: any InstanceDirectory,
        alarms: any AlarmRegistry, queues: (any QueueDelivery)? = nil, metrics: ServiceMetrics? = nil
    ) {
        let asg = AutoScaling(
            store: store, clock: clock, launcher: launcher, registrar: registrar, network: network, alarms: alarms, queues: queues)
        self.asg = asg
        reconciler = Reconciler(asg: asg)
        metrics?.addGauges { await asg.groupMetricValues() }
        operations = OperationHandler.table(asg, [
            "CreateAutoScalingGroup": AutoScaling.createAutoScalingGroup,
            "DescribeAutoScalingGroups": AutoScaling.describeAutoScalingGroups,
            "UpdateAutoScalingGroup": AutoScaling.updateAutoScalingGroup,
            "PutScheduledUpdateGroupAction": AutoScaling.putScheduledUpdateGroupAction,
            "DescribeScheduledActions": AutoScaling.describeScheduledActions,
            "DeleteScheduledAction": AutoScaling.deleteScheduledAction,
            "AttachTrafficSources": AutoScaling.attachTrafficSources,
            "DetachTrafficSources": AutoScaling.detachTrafficSources,
            "DescribeTrafficSources": AutoScaling.describeTrafficSources,
            "AttachLoadBalancerTargetGroups": AutoScaling.attachLoadBalancerTargetGroups,
            "DetachLoadBalancerTargetGroups": AutoScaling.detachLoadBalancerTargetGroups,
            "DescribeLoadBalancerTargetGroups": AutoScaling.describeLoadBalancerTargetGroups,
            "EnableMetricsCollection": AutoScaling.enableMetricsCollection,
            "DisableMetricsCollection": AutoScaling.disableMetricsCollection,
            "DescribeMetricCollectionTypes": AutoScaling.describeMetricCollectionTypes,
            "PutWarmPool": AutoScaling.putWarmPool,
            "DescribeWarmPool": AutoScaling.describeWarmPool,
            "DeleteWarmPool": AutoScaling.deleteWarmPool,
            "PutLifecycleHook": AutoScaling.putLifecycleHook,
            "DescribeLifecycleHooks": AutoScaling.describeLifecycleHooks,
            "DescribeLifecycleHookTypes": AutoScaling.describeLifecycleHookTypes,
            "DeleteLifecycleHook": AutoScaling.deleteLifecycleHook,
            "CompleteLifecycleAction": AutoScaling.completeLifecycleAction,
            "RecordLifecycleActionHeartbeat": AutoScaling.recordLifecycleActionHeartbeat,
            "DeleteAutoScalingGroup": AutoScaling.deleteAutoScalingGroup,
            "SetDesiredCapacity": AutoScaling.setDesiredCapacity,
            "DescribeAutoScalingInstances": AutoScaling.describeAutoScalingInstances,
            "TerminateInstanceInAutoScalingGroup": AutoScaling.terminateInstanceInAutoScalingGroup,
            "SetInstanceHealth": AutoScaling.setInstanceHealth,
            "DescribeScalingActivities": AutoScaling.describeScalingActivities,
            "PutScalingPolicy": AutoScaling.putScalingPolicy,
            "DescribePolicies": AutoScaling.describePolicies,
            "DeletePolicy": AutoScaling.deletePolicy,
            "ExecutePolicy": AutoScaling.executePolicy,
            "StartInstanceRefresh": AutoScaling.startInstanceRefresh,
            "SuspendProcesses": AutoScaling.suspendProcesses,
            "ResumeProcesses": AutoScaling.resumeProcesses,
            "SetInstanceProtection": AutoScaling.setInstanceProtection,
            "AttachInstances": AutoScaling.attachInstances,
            "DetachInstances": AutoScaling.detachInstances,
            "DescribeInstanceRefreshes": AutoScaling.describeInstanceRefreshes,
            "CancelInstanceRefresh": AutoScaling.cancelInstanceRefresh,
            "RollbackInstanceRefresh": AutoScaling.rollbackInstanceRefresh,
        ])
    }

    public func reset() async throws {
        let ids = try await asg.store.read { db in try String.fetchAll(db, sql: "SELECT instanceId FROM asg_instances") }
        try await asg.store.clear(tables: Self.tables)
        for id in ids { await asg.launcher.terminate(instanceId: id) }
    }
}

extension AutoScalingProvider: AlarmActionHandler {
    /// Scaling policy ARNs in alarm actions (`arn:aws:autoscaling:...:scalingPolicy:...`).
    public func run(action: String, for alarm: AlarmNotice) async -> String? {
        guard action.hasPrefix("arn:aws:autoscaling:"), action.contains(":scalingPolicy:") else { return nil }
        guard let policy = try? await asg.store.read({ db in try PolicyRecord.fetchOne(db, key: action) }) else {
            return "Failed to execute AutoScaling action: no scaling policy \(action)"
        }
        let group = try? await asg.store.read { db in try asg.group(db, policy.groupName, account: policy.accountId, region: policy.region) }
        if let group, AutoScaling.suspended(ShapeValue(storageText: group.config)).contains("AlarmNotification") {
            return "Skipped AutoScaling action \(action): the AlarmNotification process is suspended"
        }
        do {
            try await asg.apply(policy, cause: "", value: alarm.value, threshold: alarm.threshold, honorCooldown: true, alarmName: alarm.alarmName)
            return "Successfully executed action \(action)"
        } catch {
            return "Failed to execute AutoScaling action: \((error as? AWSError)?.message ?? "\(error)")"
        }
    }
}
