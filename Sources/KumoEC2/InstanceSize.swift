/// What an instance type gives an instance: the limits `CgroupLimits` applies and the vCPUs
/// `CPUMeter` measures CPUUtilization against.
enum InstanceSize {
    /// vCPUs of the common instance types (others count as one).
    static func vCPUs(_ type: String) -> Double {
        let size = type.split(separator: ".").last.map(String.init) ?? ""
        let family = type.split(separator: ".").first.map(String.init) ?? ""
        if family.hasPrefix("t2") { return ["nano": 1, "micro": 1, "small": 1, "medium": 2, "large": 2, "xlarge": 4, "2xlarge": 8][size] ?? 1 }
        return ["nano": 2, "micro": 2, "small": 2, "medium": 2, "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16][size] ?? 1
    }

    /// Memory by instance size, as the common general-purpose families have it.
    static func memoryMiB(_ type: String) -> Int {
        let size = type.split(separator: ".").last.map(String.init) ?? ""
        return ["nano": 512, "micro": 1024, "small": 2048, "medium": 4096, "large": 8192, "xlarge": 16384, "2xlarge": 32768, "4xlarge": 65536][size]
            ?? 1024
    }
}
