// swift-tools-version: 6.1
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// The data plane's modules in release builds skip the runtime exclusivity checks (about 3 % of
/// the request path's CPU in a profile); debug builds, and so every test, keep them.
let hotPath: [SwiftSetting] = upcoming + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "weir",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "weir", targets: ["weir"]),
        .executable(name: "weir-demo-model", targets: ["weir-demo-model"]),
        .executable(name: "weirctl", targets: ["weirctl"]),
        .library(name: "WeirCore", targets: ["WeirCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .target(
            name: "WeirCore",
            dependencies: [
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "RealModule", package: "swift-numerics"),
            ],
            swiftSettings: hotPath
        ),
        .target(
            name: "WeirConfig",
            dependencies: ["WeirCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: upcoming
        ),
        .target(
            name: "WeirProxy",
            dependencies: [
                "WeirCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPath
        ),
        .target(
            name: "WeirStore",
            dependencies: ["WeirCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: upcoming
        ),
        .target(
            name: "WeirFleet",
            dependencies: [
                "WeirCore", "WeirConfig",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .target(name: "WeirAdminModels", swiftSettings: upcoming),
        .target(
            name: "WeirAdmin",
            dependencies: [
                "WeirCore", "WeirAdminModels",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            // The dashboard's files, compiled into the binary: nothing to install, nothing fetched.
            resources: [
                .embedInCode("Dashboard/index.html"), .embedInCode("Dashboard/dashboard.js"),
                .embedInCode("Dashboard/dashboard.css"), .embedInCode("Dashboard/favicon.svg"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "WeirHTTPClient",
            dependencies: [
                "WeirCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "weirctl",
            dependencies: [
                "WeirAdminModels", "WeirHTTPClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "WeirDemo",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "Weir",
            dependencies: [
                "WeirCore", "WeirConfig", "WeirProxy", "WeirStore", "WeirFleet", "WeirAdmin", "WeirAdminModels",
                "WeirHTTPClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "weir",
            dependencies: [
                "Weir", "WeirConfig", "WeirCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "weir-demo-model",
            dependencies: [
                "WeirDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "WeirTesting",
            dependencies: [
                "WeirCore", "WeirDemo",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(name: "WeirCoreTests", dependencies: ["WeirCore"], swiftSettings: upcoming),
        .testTarget(
            name: "WeirProxyTests",
            dependencies: [
                "WeirProxy", "WeirCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "WeirStoreTests",
            dependencies: ["WeirStore", "WeirCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: upcoming),
        .testTarget(name: "WeirConfigTests", dependencies: ["WeirConfig", "WeirCore"], swiftSettings: upcoming),
        .testTarget(
            name: "WeirIntegrationTests",
            dependencies: [
                "Weir", "WeirConfig", "WeirCore", "WeirProxy", "WeirTesting", "WeirDemo", "weir", "weir-demo-model",
                "weirctl",
                "WeirStore", "WeirFleet", "WeirAdminModels", "WeirHTTPClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
    ]
)
