#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A set of credentials Kumo accepts, and whom they act as.
public struct Identity: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// The account's root user.
        case root
        /// An IAM user declared in the credentials file (or, later, by IAM).
        case user
        /// Temporary credentials of an assumed role (`AssumeRole`).
        case assumedRole
        /// Temporary credentials of a user's session (`GetSessionToken`).
        case session
        /// An AWS service acting on its own behalf (CloudFront fetching from an S3 origin
        /// with origin access control); `name` is the service principal, `cloudfront.amazonaws.com`.
        case service
    }

    public var accessKeyId: String
    public var secretAccessKey: String
    public var accountId: String
    public var kind: Kind
    /// The user name, or the role name for assumed roles.
    public var name: String
    /// `AssumeRole` session name.
    public var sessionName: String?
    /// Present for temporary credentials; requests must carry it as `X-Amz-Security-Token`.
    public var sessionToken: String?
    public var expiration: Date?
    /// The unique id AWS reports as `UserId` (`AIDA...`, `AROA...:session`).
    public var userId: String

    public init(
        accessKeyId: String, secretAccessKey: String, accountId: String, kind: Kind, name: String,
        sessionName: String? = nil, sessionToken: String? = nil, expiration: Date? = nil, userId: String? = nil
    ) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.accountId = accountId
        self.kind = kind
        self.name = name
        self.sessionName = sessionName
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.userId = userId ?? (kind == .root ? accountId : accessKeyId)
    }

    /// The caller's ARN as `GetCallerIdentity` reports it.
    public var arn: String {
        switch kind {
        case .root: "arn:aws:iam::\(accountId):root"
        case .user: "arn:aws:iam::\(accountId):user/\(name)"
        case .session: name == "root" ? "arn:aws:iam::\(accountId):root" : "arn:aws:iam::\(accountId):user/\(name)"
        case .assumedRole: "arn:aws:sts::\(accountId):assumed-role/\(name)/\(sessionName ?? name)"
        case .service: name
        }
    }
}

/// Looks up the identity behind an access key id.
///
/// The edge asks one of these for every signed request. The `Kumo` executable
/// wires together the static credentials (default and `--credentials FILE`)
/// and STS's temporary credentials.
public protocol CredentialProvider: Sendable {
    func identity(forAccessKey accessKeyId: String) async throws -> Identity?
}
