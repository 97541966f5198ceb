import KumoProtocols

/// What CloudFront compresses, into which encoding, and for whom (the behavior says Compress).
enum Compression {
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

    /// The first of the behavior's `encodings` (preferred first) that the viewer's
    /// `Accept-Encoding` lists without `q=0`; nil when none is.
    static func chosen(_ encodings: [String], acceptEncoding header: String?) -> String? {
        guard let header, !encodings.isEmpty else { return nil }
        var accepted: Set<String> = []
        for part in header.split(separator: ",") {
            let fields = part.split(separator: ";")
            guard let name = fields.first?.trimmingSpaces.lowercased(),
                !fields.dropFirst().contains(where: { $0.trimmingSpaces.replacing(" ", with: "") == "q=0" })
            else { continue }
            accepted.insert(name)
        }
        return encodings.first { accepted.contains($0) }
    }
}
