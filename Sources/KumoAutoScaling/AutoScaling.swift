import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// EC2 Auto Scaling: groups, their instances and scaling policies in the store; the
/// `Reconciler` keeps each group at its desired capacity with real instances.
struct AutoScaling: Sendable {
    let store: Store
    let clock: KumoClock
    let launcher: any InstanceLauncher
    let registrar: any TargetRegistrar
    let network: any InstanceDirectory
    let alarms: any AlarmRegistry
    /// Where lifecycle hook notifications to SQS queues go.
    let queues: (any QueueDelivery)?


    var now: Double { clock.now.timeIntervalSince1970 }

    static func iso(_ t: Double) -> String { Timestamp.iso8601(Date(timeIntervalSince1970: t)) }

    func group(_ db: Database, _ name: String, account: String, region: String) throws -> GroupRecord {
        guard let g = try GroupRecord.fetchOne(db, key: ["accountId": account, "region": region, "name": name]) else {
            throw AWSError.asgValidation("AutoScalingGroup name not found - AutoScalingGroup \(name) not found")
        }
        return g
    }

    /// Records an activity (newest first in DescribeScalingActivities).
    func activity(_ db: Database, _ g: GroupRecord, description: String, cause: String, status: String = "Successful", message: String? = nil) throws {
        let t = now
        try ActivityRecord(
            id: UUID().uuidString.lowercased(), accountId: g.accountId, region: g.region, groupName: g.name, description: description, cause: cause,
            statusCode: status, statusMessage: message, start: t, end: status == "InProgress" ? nil : t
        ).insert(db)
    }

    /// Checks Min <= Desired <= Max as AWS words it.
    static func checkBounds(min: Int, max: Int, desired: Int) throws {
        guard min <= max else { throw AWSError.asgValidation("Max bound, \(max), must be greater than or equal to min bound, \(min)") }
        guard (min...max).contains(desired) else {
            throw AWSError.asgValidation("Desired capacity:\(desired) must be between the specified min size:\(min) and max size:\(max)")
        }
    }
}

extension AWSError {
    static func asgValidation(_ message: String) -> AWSError { AWSError(code: "ValidationError", message: message) }
}
