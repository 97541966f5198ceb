import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension CloudWatch {
    static let operators: [String: @Sendable (Double, Double) -> Bool] = [
        "GreaterThanOrEqualToThreshold": { $0 >= $1 }, "GreaterThanThreshold": { $0 > $1 },
        "LessThanThreshold": { $0 < $1 }, "LessThanOrEqualToThreshold": { $0 <= $1 },
    ]
    static let operatorWords = [
        "GreaterThanOrEqualToThreshold": "greater than or equal to", "GreaterThanThreshold": "greater than",
        "LessThanThreshold": "less than", "LessThanOrEqualToThreshold": "less than or equal to",
    ]

    func alarmArn(_ account: String, _ region: String, _ name: String) -> String { "arn:aws:cloudwatch:\(region):\(account):alarm:\(name)" }

    func alarmShape(_ r: AlarmRecord) -> ShapeValue {
        var m = ShapeValue(storageText: r.config).members ?? [:]
        m["AlarmArn"] = .string(alarmArn(r.accountId, r.region, r.name))
        m["StateValue"] = .string(r.state)
        m["StateReason"] = .string(r.stateReason)
        if let data = r.stateReasonData { m["StateReasonData"] = .string(data) }
        m["StateUpdatedTimestamp"] = .timestamp(Date(timeIntervalSince1970: r.stateUpdated))
        m["StateTransitionedTimestamp"] = .timestamp(Date(timeIntervalSince1970: r.stateTransitioned))
        m["AlarmConfigurationUpdatedTimestamp"] = .timestamp(Date(timeIntervalSince1970: r.configUpdated))
        m["ActionsEnabled"] = .boolean(r.actionsEnabled)
        for list in ["AlarmActions", "OKActions", "InsufficientDataActions"] where m[list] == nil { m[list] = [] }
        if m["AlarmRule"] == nil, m["Dimensions"] == nil { m["Dimensions"] = [] }
        m["Tags"] = nil
        return .structure(m)
    }


    /// A composite alarm: its rule over other alarms' states, checked to parse and to name
    /// alarms that exist.
    func putCompositeAlarm(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let account = call.context.accountId, region = call.context.region
        let text = input["AlarmRule"]?.string ?? ""
        let rule: AlarmRule
        do { rule = try AlarmRule.parse(text) } catch { throw AWSError.cwValidation("Error in AlarmRule: \(error.message)") }
        let existing = Set(try await store.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM cw_alarms WHERE accountId = ? AND region = ?", arguments: [account, region])
        })
        let missing = rule.alarms.filter { !existing.contains($0) }
        guard missing.isEmpty else {
            throw AWSError.cwValidation("Could not save the composite alarm as alarms [\(missing.joined(separator: ", "))] in the alarm rule do not exist")
        }
        guard !rule.alarms.contains(input["AlarmName"]?.string ?? "") else {
            throw AWSError.cwValidation("A composite alarm cannot refer to itself in its alarm rule.")
        }
        try await saveAlarm(input, account: account, region: region)
        return .empty
    }

    func putMetricAlarm(_ call: OperationCall) async throws -> ShapeValue {
        try await putAlarm(call.input, account: call.context.accountId, region: call.context.region)
        return .empty
    }

    func putAlarm(_ input: ShapeValue, account: String, region: String) async throws {
        let period = input["Period"]?.int
        if input["Metrics"] == nil {
            guard let period else { throw AWSError.cwMissingParameter("The parameter Period is required.") }
            guard period == 10 || period == 20 || period == 30 || (period >= 60 && period % 60 == 0) else {
                throw AWSError.cwInvalidParameter("Period must be 10, 20, 30 or a multiple of 60.")
            }
            guard input["Statistic"] != nil || input["ExtendedStatistic"] != nil else {
                throw AWSError.cwMissingParameter("One of the parameters Statistic or ExtendedStatistic is required.")
            }
        } else {
            let queries = input["Metrics"]?.list ?? []
            guard input["MetricName"] == nil, input["Namespace"] == nil, input["Statistic"] == nil, input["ExtendedStatistic"] == nil else {
                throw AWSError.cwValidation("Metrics list cannot be used together with MetricName, Namespace, Statistic or ExtendedStatistic.")
            }
            guard queries.filter({ $0["ReturnData"]?.bool ?? true }).count == 1 else {
                throw AWSError.cwValidation("Metrics list must contain exactly one metric that returns data (ReturnData true).")
            }
            for q in queries {
                if let stat = q["MetricStat"], stat["Period"] == nil {
                    throw AWSError.cwValidation("Period is required for the metric \(q["Id"]?.string ?? "") of the Metrics list.")
                }
                if let text = q["Expression"]?.string {
                    do { _ = try MetricMath.parse(text) } catch {
                        throw AWSError.cwValidation("Error in expression \(q["Id"]?.string ?? ""): \(error.message)")
                    }
                }
            }
        }
        let evaluation = input["EvaluationPeriods"]?.int ?? 1
        if let m = input["DatapointsToAlarm"]?.int, m > evaluation {
            throw AWSError.cwInvalidParameter("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
        }
        if (period ?? 60) * evaluation > 86400 * 7 {
            throw AWSError.cwInvalidParameter("The product of Period and EvaluationPeriods must not exceed 604800 seconds (7 days).")
        }
        try await saveAlarm(input, account: account, region: region)
    }

    /// Stores a metric or composite alarm (created in INSUFFICIENT_DATA; an update keeps its state).
    func saveAlarm(_ input: ShapeValue, account: String, region: String) async throws {
        let name = input["AlarmName"]?.string ?? ""
        var members = input.members ?? [:]
        members["Tags"] = nil
        members["ActionsEnabled"] = nil
        let config = ShapeValue.structure(members).storageText
        let now = clock.now.timeIntervalSince1970
        let enabled = input["ActionsEnabled"]?.bool ?? true
        try await store.write { db in
            if var existing = try AlarmRecord.fetchOne(db, key: ["accountId": account, "region": region, "name": name]) {
                existing.config = config
                existing.configUpdated = now
                existing.actionsEnabled = enabled
                try existing.update(db)
            } else {
                try AlarmRecord(
                    accountId: account, region: region, name: name, config: config,
                    state: "INSUFFICIENT_DATA", stateReason: "Unchecked: Initial alarm creation", stateReasonData: nil, stateUpdated: now,
                    stateTransitioned: now, configUpdated: now, actionsEnabled: enabled
                ).insert(db)
                try HistoryRecord(
                    accountId: account, region: region, alarmName: name, timestamp: now, type: "ConfigurationUpdate",
                    summary: "Alarm \"\(name)\" created", data: "{}"
                ).insert(db)
            }
        }
    }

    func describeAlarms(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let account = call.context.accountId, region = call.context.region
        var rows = try await store.read { db in
            try AlarmRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("name")).fetchAll(db)
        }
        let names = (input["AlarmNames"]?.list ?? []).compactMap(\.string)
        if !names.isEmpty { rows = rows.filter { names.contains($0.name) } }
        if let prefix = input["AlarmNamePrefix"]?.string { rows = rows.filter { $0.name.hasPrefix(prefix) } }
        if let state = input["StateValue"]?.string { rows = rows.filter { $0.state == state } }
        if let prefix = input["ActionPrefix"]?.string {
            rows = rows.filter { r in
                let c = ShapeValue(storageText: r.config)
                return ["AlarmActions", "OKActions", "InsufficientDataActions"].contains { (c[$0]?.list ?? []).contains { $0.string?.hasPrefix(prefix) == true } }
            }
        }
        // Without AlarmTypes only metric alarms are listed, as on AWS.
        let types = Set((input["AlarmTypes"]?.list ?? []).compactMap(\.string))
        rows = rows.filter { r in
            let composite = ShapeValue(storageText: r.config)["AlarmRule"] != nil
            return composite ? types.contains("CompositeAlarm") : types.isEmpty || types.contains("MetricAlarm")
        }
        let page = try PageToken.page(rows, after: input["NextToken"]?.string, limit: input["MaxRecords"]?.int ?? 50, invalid: Self.invalidToken)
        let isComposite = { (r: AlarmRecord) in ShapeValue(storageText: r.config)["AlarmRule"] != nil }
        var out: [String: ShapeValue] = [
            "MetricAlarms": .list(page.items.filter { !isComposite($0) }.map(alarmShape)),
            "CompositeAlarms": .list(page.items.filter(isComposite).map(alarmShape)),
        ]
        if let next = page.next { out["NextToken"] = .string(next) }
        return .structure(out)
    }

    func describeAlarmsForMetric(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let account = call.context.accountId, region = call.context.region
        let dims = Self.dimensionKey(input["Dimensions"]?.list ?? [])
        let rows = try await store.read { db in
            try AlarmRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("name")).fetchAll(db)
        }
        let matching = rows.filter { r in
            let c = ShapeValue(storageText: r.config)
            return c["Namespace"]?.string == input["Namespace"]?.string && c["MetricName"]?.string == input["MetricName"]?.string
                && (input["Dimensions"] == nil || Self.dimensionKey(c["Dimensions"]?.list ?? []) == dims)
        }
        return ["MetricAlarms": .list(matching.map(alarmShape))]
    }

    func deleteAlarms(_ call: OperationCall) async throws -> ShapeValue {
        let names = (call.input["AlarmNames"]?.list ?? []).compactMap(\.string)
        let account = call.context.accountId, region = call.context.region
        try await store.write { db in
            for name in names {
                guard try AlarmRecord.fetchOne(db, key: ["accountId": account, "region": region, "name": name]) != nil else {
                    throw AWSError(code: "ResourceNotFound", message: "The alarm \(name) does not exist.", status: 404)
                }
            }
            try AlarmRecord.filter(Column("accountId") == account && Column("region") == region && names.contains(Column("name"))).deleteAll(db)
        }
        return .empty
    }

    func setAlarmState(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let name = input["AlarmName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        guard let r = try await store.read({ db in try AlarmRecord.fetchOne(db, key: ["accountId": account, "region": region, "name": name]) }) else {
            throw AWSError(code: "ResourceNotFound", message: "Alarm \(name) not found", status: 404)
        }
        await transition(r, to: input["StateValue"]?.string ?? "OK", reason: input["StateReason"]?.string ?? "", data: input["StateReasonData"]?.string)
        return .empty
    }

    func setActions(_ call: OperationCall, enabled: Bool) async throws -> ShapeValue {
        let names = (call.input["AlarmNames"]?.list ?? []).compactMap(\.string)
        let account = call.context.accountId, region = call.context.region
        _ = try await store.write { db in
            try AlarmRecord.filter(Column("accountId") == account && Column("region") == region && names.contains(Column("name")))
                .updateAll(db, Column("actionsEnabled").set(to: enabled))
        }
        return .empty
    }

    func enableAlarmActions(_ call: OperationCall) async throws -> ShapeValue { try await setActions(call, enabled: true) }
    func disableAlarmActions(_ call: OperationCall) async throws -> ShapeValue { try await setActions(call, enabled: false) }

    func describeAlarmHistory(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let account = call.context.accountId, region = call.context.region
        var rows = try await store.read { db in
            try HistoryRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("timestamp").desc).fetchAll(db)
        }
        if let name = input["AlarmName"]?.string { rows = rows.filter { $0.alarmName == name } }
        if let type = input["HistoryItemType"]?.string { rows = rows.filter { $0.type == type } }
        if input["ScanBy"]?.string == "TimestampAscending" { rows.reverse() }
        let items: [ShapeValue] = rows.prefix(input["MaxRecords"]?.int ?? 100).map {
            [
                "AlarmName": .string($0.alarmName), "AlarmType": "MetricAlarm", "Timestamp": .timestamp(Date(timeIntervalSince1970: $0.timestamp)),
                "HistoryItemType": .string($0.type), "HistorySummary": .string($0.summary), "HistoryData": .string($0.data),
            ]
        }
        return ["AlarmHistoryItems": .list(items)]
    }

    func repeatScalingActions(_ alarm: AlarmRecord, value: Double?) async {
        guard alarm.actionsEnabled else { return }
        let config = ShapeValue(storageText: alarm.config)
        let scaling = (config["AlarmActions"]?.list ?? []).compactMap(\.string).filter { $0.hasPrefix("arn:aws:autoscaling:") }
        guard !scaling.isEmpty else { return }
        let notice = AlarmNotice(
            alarmName: alarm.name, alarmArn: alarmArn(alarm.accountId, alarm.region, alarm.name), accountId: alarm.accountId, region: alarm.region,
            state: "ALARM", previousState: "ALARM", reason: alarm.stateReason,
            dimensions: (config["Dimensions"]?.list ?? []).map { (name: $0["Name"]?.string ?? "", value: $0["Value"]?.string ?? "") },
            threshold: config["Threshold"]?.double, value: value)
        for action in scaling {
            for handler in actions where await handler.run(action: action, for: notice) != nil { break }
        }
    }

    /// Records a state change and runs the actions of the new state.
    func transition(_ alarm: AlarmRecord, to state: String, reason: String, data: String?, value: Double? = nil) async {
        let now = clock.now.timeIntervalSince1970
        let previous = alarm.state
        var updated = alarm
        updated.state = state
        updated.stateReason = reason
        updated.stateReasonData = data
        updated.stateUpdated = now
        if state != previous { updated.stateTransitioned = now }
        let history = HistoryRecord(
            accountId: alarm.accountId, region: alarm.region, alarmName: alarm.name, timestamp: now, type: "StateUpdate",
            summary: "Alarm updated from \(previous) to \(state)",
            data: JSONValue.object([("oldState", .object([("stateValue", .string(previous))])), ("newState", .object([("stateValue", .string(state)), ("stateReason", .string(reason))]))]).serialized())
        let changed = state != previous
        let record = updated
        _ = try? await store.write { db in
            try record.update(db)
            if changed { try history.insert(db) }
        }
        guard changed, alarm.actionsEnabled else { return }
        let config = ShapeValue(storageText: alarm.config)
        let member = ["ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"][state] ?? ""
        let notice = AlarmNotice(
            alarmName: alarm.name, alarmArn: alarmArn(alarm.accountId, alarm.region, alarm.name), accountId: alarm.accountId, region: alarm.region,
            state: state, previousState: previous, reason: reason,
            dimensions: (config["Dimensions"]?.list ?? []).map { (name: $0["Name"]?.string ?? "", value: $0["Value"]?.string ?? "") },
            threshold: config["Threshold"]?.double, value: value)
        for action in (config[member]?.list ?? []).compactMap(\.string) {
            var summary: String?
            for handler in actions {
                summary = await handler.run(action: action, for: notice)
                if summary != nil { break }
            }
            let text = summary ?? "Recorded action \(action): Kumo does not serve its service yet"
            _ = try? await store.write { db in
                try HistoryRecord(
                    accountId: alarm.accountId, region: alarm.region, alarmName: alarm.name, timestamp: self.clock.now.timeIntervalSince1970,
                    type: "Action", summary: text, data: JSONValue.object([("actionArn", .string(action))]).serialized()
                ).insert(db)
            }
        }
    }
}
