// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "kumo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kumo", targets: ["Kumo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        // The Swift runtime's global-executor hook, so Swift concurrency can run on the NIO event loops.
        .target(name: "CKumoRuntime"),
        .target(
            name: "KumoCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoModels",
            resources: [.copy("Models")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoProtocols",
            dependencies: [
                "KumoCore",
                "KumoModels",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoStore",
            dependencies: [
                "KumoCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // ACM and the local certificate authority that issues its certificates.
        .target(
            name: "KumoACM",
            dependencies: [
                "KumoProtocols", "KumoCore", "KumoStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoSTS",
            dependencies: ["KumoCore", "KumoProtocols", "KumoStore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoS3",
            dependencies: [
                "KumoCore", "KumoProtocols", "KumoStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoSQS",
            dependencies: [
                "KumoCore", "KumoProtocols", "KumoStore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoRoute53",
            dependencies: [
                "KumoCore", "KumoProtocols", "KumoStore", "KumoProxy",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoProxy",
            dependencies: [
                "KumoProtocols", "KumoCore", "CZlib", "CBrotli",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoEC2",
            dependencies: [
                "KumoCore", "KumoProtocols", "KumoStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoELB",
            dependencies: [
                "KumoCore", "KumoProtocols", "KumoStore", "KumoProxy",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoCloudWatch",
            dependencies: [
                "KumoCore", "KumoProtocols", "KumoStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoAutoScaling",
            dependencies: [
                "KumoCore", "KumoProtocols", "KumoStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoLogs",
            dependencies: [
                "KumoCore", "KumoProtocols", "KumoStore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The system zlib, for CloudFront's gzip compression at the edge.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // The system Brotli encoder, for CloudFront's br compression at the edge.
        .systemLibrary(name: "CBrotli", path: "Sources/CBrotli", providers: [.apt(["libbrotli-dev"])]),
        .target(
            name: "KumoCloudFront",
            dependencies: [
                "KumoCore", "KumoProtocols", "KumoStore", "KumoProxy",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoDNS",
            dependencies: [
                "KumoCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KumoServer",
            dependencies: [
                "KumoCore",
                "KumoProtocols",
                "KumoStore",
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Kumo",
            dependencies: [
                "KumoCore",
                "KumoServer",
                "KumoStore",
                "KumoSTS",
                "KumoACM",
                "KumoS3",
                "KumoSQS",
                "KumoRoute53",
                "KumoCloudFront",
                "KumoEC2",
                "KumoELB",
                "KumoCloudWatch",
                "KumoAutoScaling",
                "KumoLogs",
                "KumoDNS",
                "CKumoRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // libFuzzer entry points for the parsers; Scripts/fuzz.sh builds it with -sanitize=fuzzer.
        .executableTarget(
            name: "KumoFuzz",
            dependencies: ["KumoProtocols", "KumoDNS"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KumoProtocolsTests",
            dependencies: ["KumoProtocols", "KumoCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KumoStoreTests",
            dependencies: ["KumoStore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KumoS3Tests",
            dependencies: ["KumoS3", "KumoCore", "KumoProtocols", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KumoCloudFrontTests",
            dependencies: ["KumoCloudFront", "KumoCore", "KumoProtocols", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KumoELBTests",
            dependencies: ["KumoELB"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KumoCloudWatchTests",
            dependencies: ["KumoCloudWatch", "KumoStore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KumoAutoScalingTests",
            dependencies: ["KumoAutoScaling"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KumoRoute53Tests",
            dependencies: ["KumoRoute53", "KumoCore", "KumoProtocols"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KumoDNSTests",
            dependencies: [
                "KumoDNS", "KumoCore", .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KumoServerTests",
            dependencies: [
                "KumoServer", "KumoSTS", "KumoS3", "KumoStore", "KumoCore", "KumoProtocols",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
