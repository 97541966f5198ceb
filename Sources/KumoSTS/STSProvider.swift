public import KumoCore
public import KumoProtocols
public import KumoStore
import GRDB
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// AWS Security Token Service: who am I, and temporary credentials.
///
/// Temporary credentials are stored, so they keep working across restarts
/// until they expire; the edge finds them through `identity(forAccessKey:)`.
public struct STSProvider: ServiceProvider, CredentialProvider {
    public let service = "sts"
    let store: Store
    let clock: KumoClock

    public init(store: Store, clock: KumoClock) {
        self.store = store
        self.clock = clock
    }

    public var operations: [String: OperationHandler] {
        [
            "GetCallerIdentity": OperationHandler(getCallerIdentity),
            "GetSessionToken": OperationHandler(getSessionToken),
            "AssumeRole": OperationHandler(assumeRole),
        ]
    }

    public func reset() async throws {
        try await store.clear(tables: Self.tables)
    }

    public func identity(forAccessKey accessKeyId: String) async throws -> Identity? {
        try await store.read { db in try TemporaryCredential.fetchOne(db, key: accessKeyId) }?.identity
    }

    func getCallerIdentity(_ call: OperationCall) async throws -> ShapeValue {
        let identity = call.context.identity
        let account = call.context.accountId
        return [
            "UserId": .string(identity?.userId ?? account),
            "Account": .string(account),
            "Arn": .string(identity?.arn ?? "arn:aws:iam::\(account):root"),
        ]
    }

    func issue(
        account: String, kind: Identity.Kind, name: String, sessionName: String?, userId: String, seconds: Int
    ) async throws -> TemporaryCredential {
        let credential = TemporaryCredential(
            accessKeyId: ResourceID.iam("ASIA"), secretAccessKey: ResourceID.token(length: 40),
            sessionToken: "FwoGZXIvYXdzE" + ResourceID.token(length: 300), accountId: account, kind: kind.rawValue,
            name: name, sessionName: sessionName, userId: userId,
            expiration: clock.now.addingTimeInterval(Double(seconds) * clock.timeScale))
        try await store.write { db in try credential.insert(db) }
        return credential
    }

    static func credentials(_ c: TemporaryCredential) -> ShapeValue {
        [
            "AccessKeyId": .string(c.accessKeyId),
            "SecretAccessKey": .string(c.secretAccessKey),
            "SessionToken": .string(c.sessionToken),
            "Expiration": .timestamp(c.expiration),
        ]
    }

    func getSessionToken(_ call: OperationCall) async throws -> ShapeValue {
        guard let caller = call.context.identity else { throw AWSError.missingAuthenticationToken() }
        if caller.sessionToken != nil {
            throw AWSError(
                code: "AccessDenied", message: "Cannot call GetSessionToken with session credentials", status: 403)
        }
        let seconds = call.input["DurationSeconds"]?.int ?? 43200
        guard (900...129_600).contains(seconds) else {
            throw AWSError(
                code: "ValidationError",
                message: "1 validation error detected: Value '\(seconds)' at 'durationSeconds' failed to satisfy constraint: Member must have value \(seconds < 900 ? "greater than or equal to 900" : "less than or equal to 129600")")
        }
        let name = caller.kind == .root ? "root" : caller.name
        let c = try await issue(
            account: call.context.accountId, kind: .session, name: name, sessionName: nil, userId: caller.userId,
            seconds: seconds)
        return ["Credentials": Self.credentials(c)]
    }

    func assumeRole(_ call: OperationCall) async throws -> ShapeValue {
        let roleArnText = call.input["RoleArn"]?.string ?? ""
        let sessionName = call.input["RoleSessionName"]?.string ?? ""
        guard let arn = ARN(roleArnText), arn.service == "iam", arn.resource.hasPrefix("role/"), arn.accountId.count == 12
        else {
            throw AWSError(code: "ValidationError", message: "\(roleArnText) is invalid")
        }
        let seconds = call.input["DurationSeconds"]?.int ?? 3600
        guard (900...43200).contains(seconds) else {
            throw AWSError(
                code: "ValidationError",
                message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        }
        let (c, roleId) = try await assumed(arn, roleArnText, sessionName: sessionName, seconds: seconds)
        return [
            "Credentials": Self.credentials(c),
            "AssumedRoleUser": [
                "AssumedRoleId": .string(roleId + ":" + sessionName),
                "Arn": .string(c.identity.arn),
            ],
            "PackedPolicySize": 0,
        ]
    }
}

extension STSProvider: RoleCredentialIssuer {
    /// Credentials of a role's session, stored like AssumeRole's.
    func assumed(_ arn: ARN, _ roleArnText: String, sessionName: String, seconds: Int) async throws -> (TemporaryCredential, String) {
        let roleName = String(arn.resource.split(separator: "/").last ?? "")
        let roleId = "AROA" + String(Hashing.sha256Hex(Array(roleArnText.utf8)).uppercased().prefix(17))
        let c = try await issue(
            account: arn.accountId, kind: .assumedRole, name: roleName, sessionName: sessionName,
            userId: roleId + ":" + sessionName, seconds: seconds)
        return (c, roleId)
    }

    public func roleCredentials(roleArn: String, sessionName: String, seconds: Int) async throws -> RoleCredentials {
        guard let arn = ARN(roleArn), arn.service == "iam", arn.resource.hasPrefix("role/") else {
            throw AWSError(code: "ValidationError", message: "\(roleArn) is invalid")
        }
        let (c, _) = try await assumed(arn, roleArn, sessionName: sessionName, seconds: seconds)
        return RoleCredentials(accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: c.expiration)
    }
}
