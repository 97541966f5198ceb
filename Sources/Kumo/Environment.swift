#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `KUMO_*` environment variables, the defaults behind every flag.
enum Environment {
    static func string(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        let s = String(cString: v)
        return s.isEmpty ? nil : s
    }

    static func int(_ name: String) -> Int? { string(name).flatMap(Int.init) }
    static func double(_ name: String) -> Double? { string(name).flatMap(Double.init) }
    static func bool(_ name: String) -> Bool {
        guard let s = string(name)?.lowercased() else { return false }
        return s == "1" || s == "true" || s == "yes"
    }
}
