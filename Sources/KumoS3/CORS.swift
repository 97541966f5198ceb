import KumoCore
import KumoProtocols

/// A bucket's CORS configuration: checked when put.
enum CORS {
    static let methods: Set = ["GET", "PUT", "POST", "DELETE", "HEAD"]

    static func validate(_ config: ShapeValue) throws {
        let rules = config["CORSRules"]?.list ?? []
        guard !rules.isEmpty, rules.count <= 100 else { throw AWSError.malformedXML() }
        for rule in rules {
            let allowedMethods = (rule["AllowedMethods"]?.list ?? []).compactMap(\.string)
            let origins = (rule["AllowedOrigins"]?.list ?? []).compactMap(\.string)
            guard !allowedMethods.isEmpty, !origins.isEmpty else { throw AWSError.malformedXML() }
            for m in allowedMethods where !methods.contains(m) {
                throw AWSError(code: "InvalidRequest", message: "Found unsupported HTTP method in CORS config. Unsupported method is \(m)")
            }
            for o in origins where o.filter({ $0 == "*" }).count > 1 {
                throw AWSError(code: "InvalidRequest", message: "AllowedOrigin \"\(o)\" can not have more than one wildcard.")
            }
        }
    }
}
