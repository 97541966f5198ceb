import Foundation

/// The bundled botocore service models (see `Scripts/refresh-models.py`).
///
/// Only the small index is read at start-up; a service's model is read the
/// first time a request for that service arrives.
public enum ModelFiles {
    /// The bytes of `index.json`: for each service, its protocols, signing name and target prefix.
    public static func index() throws -> [UInt8] {
        try read("index")
    }

    /// The bytes of one service's trimmed `service-2.json`.
    public static func model(_ service: String) throws -> [UInt8] {
        try read(service)
    }

    static func read(_ name: String) throws -> [UInt8] {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Models") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Models/\(name).json"])
        }
        return Array(try Data(contentsOf: url))
    }
}
