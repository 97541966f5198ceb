#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Opaque pagination tokens (`NextToken`, `ContinuationToken`, markers): the
/// position to resume after, encoded so clients treat it as opaque and tampering
/// is detected. One mechanism for every service's paginated list.
public enum PageToken {
    static let tag = "kumo1:"

    public static func encode(_ position: String) -> String {
        Data((tag + position).utf8).base64EncodedString()
    }

    /// The position, or nil when the token was not made by `encode`.
    public static func decode(_ token: String) -> String? {
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8), text.hasPrefix(tag) else {
            return nil
        }
        return String(text.dropFirst(tag.count))
    }
}

extension PageToken {
    /// One page of a list paginated by position (`NextToken`, `Marker`): the items after the
    /// token's position, at most `limit`, and the token of the next page when there is one.
    public static func page<T>(_ items: [T], after token: String?, limit: Int, invalid: @autoclosure () -> any Error) throws -> (
        items: [T], next: String?
    ) {
        var start = 0
        if let token {
            guard let p = decode(token), let n = Int(p), n >= 0 else { throw invalid() }
            start = n
        }
        let slice = Array(items.dropFirst(start).prefix(max(0, limit)))
        return (slice, start + slice.count < items.count ? encode(String(start + slice.count)) : nil)
    }
}
