import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KumoProtocols
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Log lines on standard error, as text or as one JSON object per line.
struct KumoLogHandler: LogHandler {
    enum Format: String { case text, json }

    let label: String
    let format: Format
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let time = Timestamp.iso8601Millis(Date())
        var line: String
        switch format {
        case .text:
            line = "\(time) \(event.level) \(label): \(event.message)"
            for (k, v) in all.sorted(by: { $0.key < $1.key }) { line += " \(k)=\(v)" }
        case .json:
            var fields: [(String, JSONValue)] = [
                ("time", .string(time)), ("level", .string("\(event.level)")), ("logger", .string(label)),
                ("message", .string("\(event.message)")),
            ]
            for (k, v) in all.sorted(by: { $0.key < $1.key }) { fields.append((k, .string("\(v)"))) }
            line = JSONValue.object(fields).serialized()
        }
        Console.err(line)
    }
}

/// Whole lines to standard output and error, unbuffered, so a line is visible as soon as it is written.
enum Console {
    static func out(_ line: String) { write(fd: 1, line + "\n") }
    static func err(_ line: String) { write(fd: 2, line + "\n") }

    static func write(fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { buf in
                #if canImport(Glibc)
                Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
                #else
                Darwin.write(fd, buf.baseAddress! + offset, buf.count - offset)
                #endif
            }
            if n <= 0 { return }
            offset += n
        }
    }
}
