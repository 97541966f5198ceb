#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Temporary credentials for a role (STS), as instances get them from the metadata service.
public struct RoleCredentials: Sendable {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String
    public var expiration: Date

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String, expiration: Date) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }
}

/// Who issues role credentials (STS): the metadata service asks for an instance profile's role.
public protocol RoleCredentialIssuer: Sendable {
    func roleCredentials(roleArn: String, sessionName: String, seconds: Int) async throws -> RoleCredentials
}
