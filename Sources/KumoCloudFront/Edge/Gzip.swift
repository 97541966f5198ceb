import KumoProxy
import KumoProtocols
import NIOCore

/// What CloudFront compresses, and for whom (the behavior says Compress).
extension Gzip {
    /// Content types CloudFront compresses.
    static func isCompressible(_ contentType: String?) -> Bool {
        guard let type = contentType?.split(separator: ";").first?.trimmingSpaces.lowercased() else { return false }
        if type.hasPrefix("text/") { return true }
        return [
            "application/javascript", "application/x-javascript", "application/json", "application/xml", "application/xhtml+xml",
            "application/rss+xml", "application/atom+xml", "application/ld+json", "application/manifest+json", "application/wasm",
            "image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon", "font/ttf", "font/otf", "application/vnd.ms-fontobject",
            "application/x-font-ttf", "application/x-font-opentype",
        ].contains(type)
    }

    /// Whether the viewer's `Accept-Encoding` allows gzip.
    static func accepted(_ header: String?) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { part in
            let fields = part.split(separator: ";")
            guard fields.first?.trimmingSpaces.lowercased() == "gzip" else { return false }
            return !fields.dropFirst().contains { $0.trimmingSpaces.replacing(" ", with: "") == "q=0" }
        }
    }
}
