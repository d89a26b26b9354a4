// swift-tools-version:6.1
import PackageDescription

// Dependencies come from the local mirror (see README "Dependencies"); every one earns
// its place: CLI parsing, logging, YAML config, SQLite, the wire format, graceful
// shutdown, a deque for the scheduler's queues, and metrics with their Prometheus
// exposition and the HTTP server of the dashboard.
let package = Package(
    name: "coevo",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "coevo", targets: ["coevo"]),
        .executable(name: "coevo-coordinator", targets: ["coevo-coordinator"]),
        .executable(name: "coevo-worker", targets: ["coevo-worker"]),
        .library(name: "CoevoCore", targets: ["CoevoCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.70.0"),
    ],
    targets: [
        // C system libraries, each with its own module map (swift-nio's CNIOLinux pattern).
        .systemLibrary(
            name: "CZeroMQ", pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        // glibc's posix_spawn_file_actions_addclosefrom_np, which the Glibc module hides.
        .systemLibrary(name: "CSpawn"),
        // sqlite3_config, variadic, for the process-wide threading and allocation settings.
        .systemLibrary(name: "CSQLiteConfig"),

        // Pure domain: no I/O, no clocks, no global randomness.
        .target(
            name: "CoevoCore",
            dependencies: [.product(name: "DequeModule", package: "swift-collections")]),
        // ZeroMQ shell and the protobuf wire format.
        .target(
            name: "CoevoWire",
            dependencies: [
                "CZeroMQ", "CoevoCore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Durable store: SQLite in WAL mode with batched writes.
        .target(
            name: "CoevoStore",
            dependencies: [
                "CoevoCore", "CSQLiteConfig",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // What runs a job on a worker.
        .target(
            name: "CoevoBackends",
            dependencies: ["CoevoCore", "CoevoWire", "CCurl", "CSpawn"]),
        .target(
            name: "CoevoCoordinator",
            dependencies: [
                "CoevoCore", "CoevoWire", "CoevoStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]),
        .target(
            name: "CoevoWorker",
            dependencies: [
                "CoevoCore", "CoevoWire", "CoevoBackends",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // Watching a run: Prometheus metrics, the live dashboard and the static report.
        .target(
            name: "CoevoDashboard",
            dependencies: [
                "CoevoCore", "CoevoStore", "CoevoCoordinator",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // Command definitions shared by the three executables.
        .target(
            name: "CoevoCLI",
            dependencies: [
                "CoevoCore", "CoevoWire", "CoevoStore", "CoevoCoordinator", "CoevoWorker", "CoevoBackends", "CoevoDashboard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(name: "coevo", dependencies: ["CoevoCLI"]),
        .executableTarget(name: "coevo-coordinator", dependencies: ["CoevoCLI"]),
        .executableTarget(name: "coevo-worker", dependencies: ["CoevoCLI"]),

        .testTarget(name: "CoevoCoreTests", dependencies: ["CoevoCore"]),
        .testTarget(name: "CoevoWireTests", dependencies: ["CoevoWire", "CoevoCore"]),
        .testTarget(
            name: "CoevoStoreTests",
            dependencies: ["CoevoStore", "CoevoCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "CoevoCoordinatorTests", dependencies: ["CoevoCoordinator", "CoevoCore"]),
        .testTarget(name: "CoevoDashboardTests", dependencies: ["CoevoDashboard", "CoevoCoordinator", "CoevoCore"]),
        .testTarget(name: "CoevoWorkerTests", dependencies: ["CoevoWorker", "CoevoCore", "CoevoWire"]),
        .testTarget(name: "CoevoBackendsTests", dependencies: ["CoevoBackends", "CoevoCore", "CoevoTestSupport"]),
        // Helpers shared by the test targets (ports, the scripted chat server).
        .target(name: "CoevoTestSupport", path: "Tests/CoevoTestSupport"),
        .testTarget(
            name: "CoevoIntegrationTests",
            dependencies: [
                "CoevoWire", "CoevoCore", "CoevoStore", "CZeroMQ", "CoevoTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
